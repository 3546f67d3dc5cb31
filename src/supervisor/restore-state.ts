// What a valid state file read at boot means now: the intent and history it
// carries, and the end state a transitional state became when the previous
// manager ended without finishing it. Also says so in the log.

import type { Logger } from '../log/logger.ts';
import type { LastExit, PersistedState } from './state-file.ts';
import { END_STATE_AT_BOOT, type Desired, type State } from './states.ts';

export interface Restored {
  readonly state: State;
  readonly desired: Desired;
  readonly lastExit: LastExit | null;
  readonly restarts: number;
  /** How long ago the process last exited unasked, when the file says it did and when. */
  readonly unexpectedExitAgoMs: number | null;
}

export function resolveRestored(persisted: PersistedState, now: Date, name: string, log: Logger): Restored {
  const { desired, lastExit, restarts } = persisted;
  const state = END_STATE_AT_BOOT[persisted.state] ?? persisted.state;
  let unexpectedExitAgoMs: number | null = null;
  const fields = { 'event.action': 'state-file', 'process.state': state };
  if (persisted.state === 'exited' && lastExit) {
    // A crash before this container restart (--on-exit exit) counts in /health's window like one seen live.
    // A clock set back since is read as "just now"; an unreadable time counts as no window at all.
    const ageMs = Math.max(0, now.getTime() - Date.parse(lastExit.at));
    if (Number.isFinite(ageMs)) unexpectedExitAgoMs = ageMs;
    const how = lastExit.code !== null ? `code ${lastExit.code}` : `signal ${lastExit.signal}`;
    const when = Number.isFinite(ageMs) ? `${Math.round(ageMs / 1000)} s ago` : `at ${lastExit.at}`;
    log.warn(
      `state file says ${name} exited unexpectedly (${how}) ${when}, before this container restart; desired ${desired}`,
      fields,
    );
  } else if (persisted.state === 'started' || persisted.state === 'starting') {
    log.warn(
      `state file says ${name} was ${persisted.state}: the previous manager ended without stopping it (killed?); desired ${desired}`,
      fields,
    );
  } else log.info(`state file says ${name} was ${persisted.state} (now ${state}), desired ${desired}`, fields);
  if (desired === 'stopped')
    log.info(`${name} stays ${state}: it was stopped through the API; POST /${name}/start starts it`, {
      'event.action': 'state-file',
    });
  return { state, desired, lastExit, restarts, unexpectedExitAgoMs };
}
