// How a run is asked to end: the drain (--drain-delay), SIGTERM (and SIGCONT)
// to --stop-scope, SIGKILL to the group after the timeout; and the kill that
// cuts any of it short.

import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { claimEnd, type DrainCutter, type Run } from './run-record.ts';
import type { StateMachine } from './state-machine.ts';
import type { Desired } from './states.ts';
import type { ExitCause } from './supervisor-interface.ts';
import type { SupervisorSystem } from './system.ts';

export interface StopSequenceDeps {
  readonly config: Pick<Config, 'name' | 'drainDelayMs' | 'stopScope'>;
  readonly system: SupervisorSystem;
  readonly log: Logger;
  readonly machine: StateMachine;
  readonly setDesired: (value: Desired) => void;
  /** Waits until the process and its group are gone, then drops the run and moves the state. */
  readonly endRun: (run: Run, event: 'groupGone', reason: () => string) => Promise<void>;
}

export interface StopSequence {
  /** started -> (drain) -> stopping -> stopped. True when a kill cut the drain or escalated the stop: the run ended killed. */
  stop(run: Run, timeoutMs: number, cause: ExitCause): Promise<boolean>;
  /** started -> killing -> killed. */
  kill(run: Run, reason: string): Promise<void>;
  /** An API kill during a drain or a stop, outside the queue: it must not wait out the stop's timeout. */
  escalate(run: Run): void;
}

export function createStopSequence(deps: StopSequenceDeps): StopSequence {
  const { system, log, machine } = deps;
  return {
    kill: (run, reason) => kill(deps, run, reason),
    async stop(run, timeoutMs, cause) {
      run.stopping = true;
      try {
        claimEnd(run, cause);
        if (deps.config.drainDelayMs > 0 && (await drain(deps, run, cause))) return true;
        return await signalAndWait(deps, run, timeoutMs, cause);
      } finally {
        run.stopping = false;
      }
    },
    escalate(run) {
      run.drain?.cut('api');
      const stop = run.stop;
      if (!stop || stop.escalated || machine.current() !== 'stopping') return;
      stop.escalated = true;
      stop.timer.abort();
      deps.setDesired('stopped');
      claimEnd(run, 'kill');
      machine.transition('stopping', 'kill', 'kill requested during a stop');
      system.signal({ kind: 'group', pid: run.process.pid }, 'SIGKILL', 'kill requested during a stop', log);
    },
  };
}

async function kill({ machine, system, log, endRun }: StopSequenceDeps, run: Run, reason: string): Promise<void> {
  machine.transition('started', 'kill', reason);
  system.signal({ kind: 'group', pid: run.process.pid }, 'SIGKILL', reason, log);
  await endRun(run, 'groupGone', () => 'killed');
}

/**
 * Readiness is already false: Services stop routing to the pod while ES
 * still serves what is under way. True when a kill cut it short (the process
 * is then killed here, so nothing queued behind finds it running).
 */
async function drain(deps: StopSequenceDeps, run: Run, cause: ExitCause): Promise<boolean> {
  const { config, system, log } = deps;
  const timer = new AbortController();
  let cutBy = null as DrainCutter | null;
  run.drain = {
    cut: (by) => {
      cutBy = by;
      timer.abort();
    },
  };
  log.info(`${config.name} not ready; SIGTERM in ${config.drainDelayMs} ms (${cause})`, {
    'event.action': 'drain',
    'process.pid': run.process.pid,
  });
  try {
    await Promise.race([run.process.exited, system.clock.sleep(config.drainDelayMs, timer.signal).catch(() => {})]);
  } finally {
    timer.abort();
    run.drain = null;
  }
  if (cutBy === null) return false;
  // An API kill is the operator's intent, persisted; a second SIGTERM to the manager only hurries its shutdown.
  if (cutBy === 'api') {
    deps.setDesired('stopped');
    claimEnd(run, 'kill');
  }
  await kill(
    deps,
    run,
    cutBy === 'api' ? 'kill requested during a drain' : 'second termination signal to the manager during a drain',
  );
  return true;
}

/** SIGTERM, then SIGKILL to the group after timeoutMs. True when a kill escalated it (stopping -> killing -> killed). */
async function signalAndWait(deps: StopSequenceDeps, run: Run, timeoutMs: number, cause: ExitCause): Promise<boolean> {
  const { config, system, log, machine } = deps;
  machine.transition('started', 'stop', cause);
  const pid = run.process.pid;
  system.signal({ kind: config.stopScope, pid }, 'SIGTERM', cause, log);
  // A SIGSTOPped process would hold the TERM until the timeout's SIGKILL: resume it so it runs its handler (runit's `d` does the same).
  system.signal({ kind: config.stopScope, pid }, 'SIGCONT', cause, log);
  const stop = { timer: new AbortController(), escalated: false };
  run.stop = stop;
  try {
    const timedOut = await Promise.race([
      run.process.exited.then(() => false),
      system.clock.sleep(timeoutMs, stop.timer.signal).then(
        () => true,
        () => false, // aborted: it exited, or a kill took over
      ),
    ]);
    stop.timer.abort();
    if (timedOut) {
      // A forced end: Elasticsearch may not have flushed; worth a look, unlike the signal line itself.
      log.warn(`${config.name} still running ${timeoutMs} ms after SIGTERM: sending SIGKILL`, {
        'event.action': 'stop-timeout',
        'process.pid': pid,
      });
      system.signal({ kind: 'group', pid }, 'SIGKILL', `still running ${timeoutMs} ms after SIGTERM`, log);
    }
    await deps.endRun(run, 'groupGone', () =>
      stop.escalated ? 'killed' : timedOut ? 'stopped by SIGKILL after the stop timeout' : 'stopped',
    );
  } finally {
    run.stop = null;
  }
  return stop.escalated;
}
