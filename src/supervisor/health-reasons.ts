// When the supervised process needs a person, in the words GET /health shows.

import type { Supervisor } from './supervisor-interface.ts';
import type { State } from './states.ts';

/** An unexpected exit keeps /health degraded this long, twice the longest restart back-off: a crash loop shows even while the process is briefly up. */
export const CRASH_WINDOW_MS = 2 * 60_000;

/** Settled states in which a process that should run is not running. */
const NOT_RUNNING: ReadonlySet<State> = new Set(['failed', 'exited', 'killed', 'stopped']);

export function supervisorHealthReasons(supervisor: Supervisor, name: string): string[] {
  const process = supervisor.status();
  const reasons: string[] = [];
  if (process.desired === 'started' && NOT_RUNNING.has(process.state)) {
    const detail =
      process.state === 'failed'
        ? ': it could not be spawned'
        : process.state === 'exited'
          ? ': it exited unasked (restart back-off, or the manager exits)'
          : '';
    reasons.push(`${name} should run but is ${process.state}${detail}`);
  }
  const sinceCrash = supervisor.msSinceUnexpectedExit();
  if (sinceCrash !== null && sinceCrash < CRASH_WINDOW_MS && process.state !== 'exited') {
    reasons.push(
      `${name} exited unexpectedly ${Math.round(sinceCrash / 1000)} s ago (${process.restarts} restarts so far)`,
    );
  }
  if (process.strays.length > 0) {
    reasons.push(
      `${process.strays.length} processes started by ${name} left its process group and outlive it (pids ${process.strays.join(' ')}); they are ended before the next start`,
    );
  }
  const stateFileError = supervisor.stateFileError();
  if (stateFileError)
    reasons.push(`the state file cannot be written (${stateFileError}): a container restart would forget a stop`);
  return reasons;
}
