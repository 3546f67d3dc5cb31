// Time, as every capability reads it: the wall clock only for what is shown,
// the monotonic one for every deadline and duration (an NTP step must not end
// a wait early or make a run look long), and timers. A system that is
// injected (the supervisor's, the keystore's) carries a Clock, so tests can
// hand it one that moves only when they say.

import { setTimeout as sleep } from 'node:timers/promises';

export interface Clock {
  /** Wall-clock time: only for what is shown (`since`, `at`), never to measure a duration. */
  now(): Date;
  /** Monotonic milliseconds: for deadlines and every duration (how long a run lasted). */
  monotonicMs(): number;
  /** Resolves after ms; rejects (AbortError) once signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls fn once after ms unless the returned function is called first. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** Monotonic milliseconds, for code that has no Clock handed to it. */
export function monotonicMs(): number {
  return performance.now();
}

export const systemClock: Clock = {
  now: () => new Date(),
  monotonicMs,
  sleep: (ms, signal) => sleep(ms, undefined, { signal }),
  setTimer(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** The same, but its timers never keep the process alive on their own: for work that may be dropped at exit. */
export const backgroundClock: Clock = {
  ...systemClock,
  setTimer(ms, fn) {
    const timer = setTimeout(fn, ms).unref();
    return () => clearTimeout(timer);
  },
};
