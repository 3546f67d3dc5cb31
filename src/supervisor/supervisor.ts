// The one owner of the supervised process: its pid, its state, its exit
// status. Mutations (API calls, the manager's own shutdown, restarts after a
// crash) run one at a time through a queue, so two starts give one process
// and a stop issued while starting ends stopped.

import os from 'node:os';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { createPersistence } from './persistence.ts';
import { createRestartBackoff } from './restart-backoff.ts';
import { claimEnd } from './run-record.ts';
import { createRunner } from './runner.ts';
import { exitStatusNumber, type ExitStatus } from './spawn-process.ts';
import { createStateMachine } from './state-machine.ts';
import { createStopSequence } from './stop-sequence.ts';
import { createStrays } from './strays.ts';
import type { ExitCause, ProcessStatus, Supervisor, SupervisorCounters } from './supervisor-interface.ts';
import { nodeSystem, type SupervisorSystem } from './system.ts';

export { StartBlockedError, type Supervisor } from './supervisor-interface.ts';

export interface SupervisorDeps {
  readonly log: Logger;
  /** The process died unasked and --on-exit is exit: the manager should exit with this status. */
  readonly onExitRequested: (status: number) => void;
  /** Spawn, signals, group probe, state file and clock; the real ones unless a test passes fakes. */
  readonly system?: SupervisorSystem;
}

export function createSupervisor(config: Config, deps: SupervisorDeps): Supervisor {
  const { log } = deps;
  const system = deps.system ?? nodeSystem(config.stateFile);
  const { clock } = system;
  const backoff = createRestartBackoff(clock);
  const strays = createStrays(system, log, config.name);
  const counters: SupervisorCounters = {
    starts: 0,
    spawnFailures: 0,
    exits: { stop: 0, kill: 0, restart: 0, shutdown: 0, unexpected: 0 },
  };
  let queue: Promise<unknown> = Promise.resolve();
  let startBlockedReason: () => string | undefined = () => undefined;
  let shuttingDown = false;

  const serialize = <T>(operation: () => Promise<T>): Promise<T> => {
    const result = queue.then(operation);
    queue = result.catch(() => {});
    return result;
  };
  const persistence = createPersistence({
    config,
    system,
    log,
    current: () => ({ state: machine.current(), since: machine.since() }),
  });
  const { history, writer, setDesired } = persistence;
  const machine = createStateMachine({
    name: config.name,
    log,
    clock,
    pid: () => runner.current()?.process.pid ?? null,
    changed: persistence.save,
  });
  const runner = createRunner({
    config,
    system,
    log,
    machine,
    persistence,
    strays,
    backoff,
    counters,
    serialize,
    isShuttingDown: () => shuttingDown,
    startBlocked: () => startBlockedReason(),
    onExitRequested: deps.onExitRequested,
  });
  const stops = createStopSequence({ config, system, log, machine, setDesired, endRun: runner.end });

  /** True when a kill cut the drain or escalated the stop: the process ended killed. */
  const stopLocked = async (timeoutMs: number, cause: ExitCause): Promise<boolean> => {
    backoff.cancel();
    const run = runner.current();
    if (!run || machine.current() !== 'started') return false;
    return stops.stop(run, timeoutMs, cause);
  };

  const killLocked = async (): Promise<void> => {
    backoff.cancel();
    const run = runner.current();
    if (!run || machine.current() !== 'started') return; // a stop under way was escalated by stops.escalate
    claimEnd(run, 'kill');
    await stops.kill(run, 'kill requested');
  };

  const status = (): ProcessStatus => {
    const { startedAt, lastExit, restarts, desired } = history;
    return {
      name: config.name,
      state: machine.current(),
      pid: runner.current()?.process.pid ?? null,
      since: machine.since(),
      startedAt,
      lastExit,
      restarts,
      desired,
      strays: strays.current(),
    };
  };

  return {
    status,
    counters,
    isShuttingDown: () => shuttingDown,
    isStopping: () => runner.current()?.stopping === true || shuttingDown,
    isDraining: () => runner.current()?.drain != null,
    stateFileError: () => writer.error(),
    stateSaved: (timeoutMs) => writer.settled(timeoutMs),
    flushState: (timeoutMs) => writer.flush(timeoutMs),
    msSinceUnexpectedExit: () =>
      history.lastUnexpectedExitAt === null ? null : clock.monotonicMs() - history.lastUnexpectedExitAt,
    holdStartsWhile(fn) {
      startBlockedReason = fn;
    },
    restoreFromStateFile() {
      const restored = persistence.restore();
      if (restored) machine.restore(restored);
      return history.desired === 'started';
    },
    takeOverStateFile: () => persistence.takeOver(),

    start: (reason = 'start requested', guard) =>
      serialize(async () => {
        await guard?.();
        return runner.start(reason);
      }),
    stop: () =>
      serialize(async () => {
        setDesired('stopped');
        await stopLocked(config.stopTimeoutMs, 'stop');
      }),
    kill: async () => {
      const run = runner.current();
      if (run) stops.escalate(run);
      // Still queued: whatever was asked after the stop it escalated (a start) is killed too.
      return serialize(async () => {
        setDesired('stopped');
        await killLocked();
      });
    },
    restart: (guard) =>
      serialize(async () => {
        await guard?.();
        if (await stopLocked(config.stopTimeoutMs, 'restart')) return { kind: 'killedDuringRestart' } as const;
        return runner.start('restart requested');
      }),
    shutdown: async () => {
      shuttingDown = true;
      backoff.cancel();
      return serialize(async () => {
        const wasRunning = runner.current() !== null;
        await stopLocked(config.shutdownTimeoutMs, 'shutdown');
        const { lastExit } = history;
        return wasRunning && lastExit
          ? exitStatusNumber(lastExit as ExitStatus, os.constants.signals as Record<string, number>)
          : 0;
      });
    },
    // Bypasses the queue on purpose.
    killNow() {
      const run = runner.current();
      if (run?.drain)
        run.drain.cut('manager'); // the shutdown's stop kills it at once
      else if (run)
        system.signal(
          { kind: 'group', pid: run.process.pid },
          'SIGKILL',
          'second termination signal to the manager',
          log,
        );
    },

    // Bypasses the queue too: a thread dump of a stop that hangs is when one is wanted.
    forwardSignal(signal, reason = 'forwarded from the manager') {
      const run = runner.current();
      if (!run) return null;
      return system.signal({ kind: 'process', pid: run.process.pid }, signal, reason, log) ? run.process.pid : null;
    },
  };
}
