// The supervised process's current state and the one place it changes. Like
// supervisord's change_state, every move names the state it expects to leave:
// a move from anywhere else is a bug and throws rather than going unseen.

import type { Logger } from '../log/logger.ts';
import { TRANSITIONS, type Event, type State } from './states.ts';
import type { Clock } from '../clock/clock.ts';

export interface StateMachine {
  current(): State;
  /** When the current state began (wall clock, for display). */
  since(): string;
  transition(leaving: State | readonly State[], event: Event, reason: string): void;
  /** At boot only, before any transition: the state the state file resolved to. */
  restore(to: State): void;
}

export interface StateMachineDeps {
  readonly name: string;
  readonly log: Logger;
  readonly clock: Clock;
  /** The pid the state-change line names. */
  readonly pid: () => number | null;
  /** After every transition (not after a restore): the state is persisted. */
  readonly changed: () => void;
}

export function createStateMachine({ name, log, clock, pid, changed }: StateMachineDeps): StateMachine {
  let state: State = 'notStarted';
  let since = clock.now().toISOString();
  let moved = false;

  const move = (to: State): void => {
    state = to;
    since = clock.now().toISOString();
    moved = true;
  };

  return {
    current: () => state,
    since: () => since,
    transition(leaving, event, reason) {
      const expected: readonly State[] = typeof leaving === 'string' ? [leaving] : leaving;
      if (!expected.includes(state))
        throw new Error(`bug: ${event} expected ${expected.join(' or ')} but found ${state} (${reason})`);
      const to = TRANSITIONS[state][event];
      if (!to) throw new Error(`bug: no transition from ${state} on ${event} (${reason})`);
      log.info(`${name} ${state} -> ${to}: ${reason}`, {
        'event.action': 'state-change',
        'event.reason': reason,
        'process.pid': pid(),
        'process.state': to,
      });
      move(to);
      changed();
    },
    restore(to) {
      if (moved) throw new Error(`bug: restoring ${to} after the state already moved to ${state}`);
      move(to);
    },
  };
}
