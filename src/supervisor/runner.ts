// Runs begin and end here: the spawn that creates a run, the watch on its
// exit (recorded once; an exit nobody asked for restarts it or ends the
// manager), and the end that drops it once nothing of its group is left.

import os from 'node:os';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { clearGroup } from './clear-group.ts';
import type { Persistence } from './persistence.ts';
import type { RestartBackoff } from './restart-backoff.ts';
import { createRun, type Run } from './run-record.ts';
import { exitStatusNumber, type ExitStatus } from './spawn-process.ts';
import type { StateMachine } from './state-machine.ts';
import { STARTABLE_STATES } from './states.ts';
import type { Strays } from './strays.ts';
import { StartBlockedError, type StartOutcome, type SupervisorCounters } from './supervisor-interface.ts';
import type { SupervisorSystem } from './system.ts';

export interface RunnerDeps {
  readonly config: Config;
  readonly system: SupervisorSystem;
  readonly log: Logger;
  readonly machine: StateMachine;
  readonly persistence: Persistence;
  readonly strays: Strays;
  readonly backoff: RestartBackoff;
  readonly counters: SupervisorCounters;
  readonly serialize: <T>(operation: () => Promise<T>) => Promise<T>;
  readonly isShuttingDown: () => boolean;
  /** Why starts are held back now, if they are. */
  readonly startBlocked: () => string | undefined;
  readonly onExitRequested: (status: number) => void;
}

export interface Runner {
  /** The run under way; null between runs. */
  current(): Run | null;
  /** In the queue: spawns a run unless one is under way. */
  start(reason: string): Promise<StartOutcome>;
  /** The one way a run ends: its exit, then its group, then the state that says so. */
  end(run: Run, event: 'groupGone' | 'exitedUnasked', reason: () => string): Promise<void>;
}

const signalNumbers = os.constants.signals as Record<string, number>;

export function createRunner(deps: RunnerDeps): Runner {
  const { config, system, log, machine, persistence, strays, backoff, counters } = deps;
  const { clock } = system;
  const { history } = persistence;
  let run: Run | null = null;

  const end = async (ending: Run, event: 'groupGone' | 'exitedUnasked', reason: () => string): Promise<void> => {
    await ending.process.exited;
    await clearGroup(system, log, ending.process.pid);
    strays.noteAfterEnd();
    run = null;
    machine.transition(event === 'exitedUnasked' ? 'started' : ['stopping', 'killing'], event, reason());
  };

  /** Every exit is recorded here, once; an exit nobody asked for is also handled here. */
  const watchExit = (watched: Run): void => {
    void watched.process.exited.then((exit) => {
      recordExit(deps, watched, exit);
      if (watched.cause !== null) return; // a stop or kill is waiting on it and takes it from here
      void deps.serialize(async () => {
        if (run !== watched) return; // a stop or kill queued before us already ended it
        await end(watched, 'exitedUnasked', () => 'the process exited on its own');
        if (deps.isShuttingDown()) return;
        if (config.onExit === 'exit') deps.onExitRequested(exitStatusNumber(exit, signalNumbers));
        else scheduleRestart();
      });
    });
  };

  const scheduleRestart = (): void => {
    const waitMs = backoff.next();
    log.info(`restarting ${config.name} in ${waitMs} ms`, { 'event.action': 'restart-scheduled' });
    backoff.schedule(
      waitMs,
      () => void deps.serialize(() => start('restart after an unexpected exit')).catch(() => {}),
    );
  };

  const start = async (reason: string): Promise<StartOutcome> => {
    if (deps.isShuttingDown()) throw new StartBlockedError('the manager is shutting down');
    const blocked = deps.startBlocked();
    if (blocked) throw new StartBlockedError(blocked);
    backoff.cancel();
    persistence.setDesired('started');
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

  return { current: () => run, start, end };
}

/** The exit's status, cause and time: in the history, the counters and the log. */
function recordExit({ config, system, log, persistence, counters }: RunnerDeps, ended: Run, exit: ExitStatus): void {
  const { history } = persistence;
  history.lastExit = { code: exit.code, signal: exit.signal, at: system.clock.now().toISOString() };
  const cause = ended.cause ?? 'unexpected';
  counters.exits[cause]++;
  if (cause === 'unexpected') history.lastUnexpectedExitAt = system.clock.monotonicMs();
  // Nobody asked: Elasticsearch crashed or was killed from outside, and someone should look.
  log[cause === 'unexpected' ? 'error' : 'info'](
    `${config.name} exited with ${exit.code !== null ? `code ${exit.code}` : `signal ${exit.signal}`} (${cause})`,
    {
      'event.action': 'process-exit',
      'process.pid': ended.process.pid,
      'process.exit_code': exit.code,
      'process.signal': exit.signal,
      'event.reason': cause,
    },
  );
}
