// The one owner of the supervised process: its pid, its state, its exit
// status. Mutations (API calls, the manager's own shutdown, restarts after a
// crash) run one at a time through a queue, so two starts give one process
// and a stop issued while starting ends stopped.

import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { exitStatusNumber, type ExitStatus } from './spawn-process.ts';
import type { LastExit } from './state-file.ts';
import { StartBlockedError, type ExitCause, type ProcessStatus, type StartOutcome, type Supervisor, type SupervisorCounters } from './supervisor-interface.ts';
import { STARTABLE_STATES, type Desired } from './states.ts';
import { clearGroup } from './clear-group.ts';
import { resolveRestored } from './restore-state.ts';
import { claimEnd, createRun, type Run } from './run.ts';
import { createStateMachine } from './state-machine.ts';
import { createStopSequence } from './stop-sequence.ts';
import { createRestartBackoff } from './restart-backoff.ts';
import { createStrays } from './strays.ts';
import { nodeSystem, type SupervisorSystem } from './system.ts';
import { createStateWriter } from './state-writer.ts';

export { StartBlockedError, type Supervisor } from './supervisor-interface.ts';

export interface SupervisorDeps {
  readonly log: Logger;
  /** The process died unasked and --on-exit is exit: the manager should exit with this status. */
  readonly onExitRequested: (status: number) => void;
  /** Spawn, signals, group probe, state file and clock; the real ones unless a test passes fakes. */
  readonly system?: SupervisorSystem;
}

/** What outlives a run: the operator's intent and the history shown and persisted. */
interface History {
  desired: Desired;
  lastExit: LastExit | null;
  restarts: number;
  /** A start after this one counts as a restart; a restored state file counts as a start. */
  everStarted: boolean;
  /** When the last run began; kept after it ends. */
  startedAt: string | null;
  lastUnexpectedExitAt: number | null;
}

export function createSupervisor(config: Config, deps: SupervisorDeps): Supervisor {
  const { log } = deps;
  const system = deps.system ?? nodeSystem(config.stateFile);
  const { clock } = system;
  const signalNumbers = os.constants.signals as Record<string, number>;
  const backoff = createRestartBackoff(clock);
  const strays = createStrays(system, log, config.name);
  const counters: SupervisorCounters = { starts: 0, spawnFailures: 0, exits: { stop: 0, kill: 0, restart: 0, shutdown: 0, unexpected: 0 } };
  const history: History = { desired: 'started', lastExit: null, restarts: 0, everStarted: false, startedAt: null, lastUnexpectedExitAt: null };
  /** The run under way, from spawn until nothing of its group is left. */
  let run: Run | null = null;
  let queue: Promise<unknown> = Promise.resolve();
  let startBlockedReason: () => string | undefined = () => undefined;
  let shuttingDown = false;
  /** Why the state file read at boot was unusable; it is moved aside when the manager takes the file over. */
  let corruptStateFile: string | null = null;
  /** Nothing is written before takeOverStateFile: a manager that cannot run must leave the file as it was. */
  const writer = createStateWriter((persisted) => system.stateStore.write(persisted), { clock, log, file: config.stateFile });
  let isRestored = false;

  // Never waits: the writer puts it on disk off the event loop, and keeps trying while it cannot.
  const persist = (): void => {
    const { desired, lastExit, restarts } = history;
    writer.save({ version: 1, name: config.name, desired, state: machine.current(), lastExit, restarts, updatedAt: machine.since() });
  };
  const machine = createStateMachine({ name: config.name, log, clock, pid: () => run?.process.pid ?? null, changed: persist });

  const serialize = <T>(operation: () => Promise<T>): Promise<T> => {
    const result = queue.then(operation);
    queue = result.catch(() => {});
    return result;
  };

  const setDesired = (value: Desired): void => {
    if (history.desired === value) return;
    history.desired = value;
    persist();
  };

  const status = (): ProcessStatus => {
    const { startedAt, lastExit, restarts, desired } = history;
    return { name: config.name, state: machine.current(), pid: run?.process.pid ?? null, since: machine.since(), startedAt, lastExit, restarts, desired, strays: strays.current() };
  };

  /** The one way a run ends: its exit, then its group, then the state that says so. */
  const endRun = async (ending: Run, event: 'groupGone' | 'exitedUnasked', reason: () => string): Promise<void> => {
    await ending.process.exited;
    await clearGroup(system, log, ending.process.pid);
    strays.noteAfterEnd();
    run = null;
    machine.transition(event === 'exitedUnasked' ? 'started' : ['stopping', 'killing'], event, reason());
  };

  const stops = createStopSequence({ config, system, log, machine, setDesired, endRun });

  const recordExit = (ended: Run, exit: ExitStatus): void => {
    history.lastExit = { code: exit.code, signal: exit.signal, at: clock.now().toISOString() };
    const cause = ended.cause ?? 'unexpected';
    counters.exits[cause]++;
    if (cause === 'unexpected') history.lastUnexpectedExitAt = clock.monotonicMs();
    // Nobody asked: Elasticsearch crashed or was killed from outside, and someone should look.
    log[cause === 'unexpected' ? 'error' : 'info'](`${config.name} exited with ${exit.code !== null ? `code ${exit.code}` : `signal ${exit.signal}`} (${cause})`, {
      'event.action': 'process-exit',
      'process.pid': ended.process.pid,
      'process.exit_code': exit.code,
      'process.signal': exit.signal,
      'event.reason': cause,
    });
  };

  /** Every exit is recorded here, once; an exit nobody asked for is also handled here. */
  const watchExit = (watched: Run): void => {
    void watched.process.exited.then((exit) => {
      recordExit(watched, exit);
      if (watched.cause !== null) return; // a stop or kill is waiting on it and takes it from here
      void serialize(async () => {
        if (run !== watched) return; // a stop or kill queued before us already ended it
        await endRun(watched, 'exitedUnasked', () => 'the process exited on its own');
        if (shuttingDown) return;
        if (config.onExit === 'exit') deps.onExitRequested(exitStatusNumber(exit, signalNumbers));
        else scheduleRestart();
      });
    });
  };

  const scheduleRestart = (): void => {
    const waitMs = backoff.next();
    log.info(`restarting ${config.name} in ${waitMs} ms`, { 'event.action': 'restart-scheduled' });
    backoff.schedule(waitMs, () => void serialize(() => startLocked('restart after an unexpected exit')).catch(() => {}));
  };

  const startLocked = async (reason: string): Promise<StartOutcome> => {
    if (shuttingDown) throw new StartBlockedError('the manager is shutting down');
    const blocked = startBlockedReason();
    if (blocked) throw new StartBlockedError(blocked);
    backoff.cancel();
    setDesired('started');
    if (!STARTABLE_STATES.includes(machine.current())) return { kind: 'alreadyRunning' };
    if (history.everStarted) history.restarts++;
    history.everStarted = true;
    machine.transition(STARTABLE_STATES, 'start', reason);
    await strays.endAll(config.stopTimeoutMs);
    const spawned = await system.spawn(config.cmd, config.args);
    counters.starts++;
    if (!spawned.ok) {
      counters.spawnFailures++;
      log.error(spawned.detail, { 'event.action': 'spawn', 'error.code': spawned.code });
      machine.transition('starting', 'spawnFailed', spawned.reason);
      return { kind: 'spawnFailed', reason: spawned.reason };
    }
    run = createRun(spawned.process, clock.now().toISOString());
    history.startedAt = run.startedAt;
    backoff.runStarted();
    machine.transition('starting', 'spawned', `pid ${run.process.pid}`);
    watchExit(run);
    return { kind: 'started' };
  };

  /** True when a kill cut the drain or escalated the stop: the process ended killed. */
  const stopLocked = async (timeoutMs: number, cause: ExitCause): Promise<boolean> => {
    backoff.cancel();
    if (!run || machine.current() !== 'started') return false;
    return stops.stop(run, timeoutMs, cause);
  };

  const killLocked = async (): Promise<void> => {
    backoff.cancel();
    if (!run || machine.current() !== 'started') return; // a stop under way was escalated by stops.escalate
    claimEnd(run, 'kill');
    await stops.kill(run, 'kill requested');
  };

  return {
    status,
    counters,
    isShuttingDown: () => shuttingDown,
    isStopping: () => run?.stopping === true || shuttingDown,
    isDraining: () => run?.drain != null,
    stateFileError: () => writer.error(),
    stateSaved: (timeoutMs) => writer.settled(timeoutMs),
    flushState: (timeoutMs) => writer.flush(timeoutMs),
    msSinceUnexpectedExit: () => (history.lastUnexpectedExitAt === null ? null : clock.monotonicMs() - history.lastUnexpectedExitAt),
    holdStartsWhile(fn) {
      startBlockedReason = fn;
    },

    restoreFromStateFile() {
      const read = system.stateStore.read();
      if (read.kind === 'corrupt') corruptStateFile = read.reason;
      if (read.kind !== 'valid') return true;
      const restored = resolveRestored(read.state, clock.now(), config.name, log);
      isRestored = true;
      history.everStarted = true;
      history.desired = restored.desired;
      history.lastExit = restored.lastExit;
      history.restarts = restored.restarts;
      if (restored.unexpectedExitAgoMs !== null) history.lastUnexpectedExitAt = clock.monotonicMs() - restored.unexpectedExitAgoMs;
      machine.restore(restored.state);
      return history.desired === 'started';
    },

    takeOverStateFile() {
      // Ours alone now (the lock is held): what a SIGKILL mid-write left behind would otherwise pile up.
      const swept = system.stateStore.sweep();
      if (swept.length > 0) log.info(`removed ${swept.length} temporary files left by interrupted state-file writes: ${swept.join(' ')}`, { 'event.action': 'state-file', 'file.directory': path.dirname(config.stateFile) });
      if (corruptStateFile !== null) {
        const keptAs = system.stateStore.keepAside();
        log.warn(`ignoring the state file: ${corruptStateFile}${keptAs ? '; kept as ' + keptAs : ''}`, { 'event.action': 'state-file', 'file.path': keptAs ?? config.stateFile });
      }
      writer.open();
      // The state resolved from the file is written back; with no file, the first transition writes one.
      if (isRestored) persist();
    },

    start: (reason = 'start requested', guard) =>
      serialize(async () => {
        await guard?.();
        return startLocked(reason);
      }),
    stop: () =>
      serialize(async () => {
        setDesired('stopped');
        await stopLocked(config.stopTimeoutMs, 'stop');
      }),
    kill: async () => {
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
        return startLocked('restart requested');
      }),

    shutdown: async () => {
      shuttingDown = true;
      backoff.cancel();
      return serialize(async () => {
        const wasRunning = run !== null;
        await stopLocked(config.shutdownTimeoutMs, 'shutdown');
        const { lastExit } = history;
        return wasRunning && lastExit ? exitStatusNumber(lastExit as ExitStatus, signalNumbers) : 0;
      });
    },

    // Bypasses the queue on purpose.
    killNow() {
      if (run?.drain) run.drain.cut('manager'); // the shutdown's stop kills it at once
      else if (run) system.signal({ kind: 'group', pid: run.process.pid }, 'SIGKILL', 'second termination signal to the manager', log);
    },

    forwardSignal(signal) {
      if (run) system.signal({ kind: 'process', pid: run.process.pid }, signal, 'forwarded from the manager', log);
    },
  };
}
