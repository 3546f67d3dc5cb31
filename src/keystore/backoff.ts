// Exponential back-off with jitter for sync and reload retries: 1 s doubling
// to 5 min. The jitter keeps a fleet of pods that failed together (ES down
// during a rolling restart) from retrying in lockstep.

import type { Clock } from '../clock/clock.ts';

const FIRST_RETRY_MS = 1_000;
const LONGEST_RETRY_MS = 5 * 60_000;
/** Each wait is its nominal value times a factor in [1 - JITTER, 1 + JITTER]. */
const JITTER = 0.2;

/** The wait before retry number `failures` (1 after the first failure). */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const nominal = Math.min(LONGEST_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
  const jittered = nominal * (1 - JITTER + 2 * JITTER * random());
  return Math.round(Math.min(LONGEST_RETRY_MS, Math.max(FIRST_RETRY_MS, jittered)));
}

/** One pending retry at a time; scheduling again replaces it. */
export function createRetryTimer(clock: Clock, run: () => void) {
  let cancelTimer: (() => void) | undefined;
  let dueAt: number | null = null;
  return {
    schedule(delayMs: number): void {
      cancelTimer?.();
      dueAt = clock.now().getTime() + delayMs;
      cancelTimer = clock.setTimer(delayMs, () => {
        cancelTimer = undefined;
        dueAt = null;
        run();
      });
    },
    cancel(): void {
      cancelTimer?.();
      cancelTimer = undefined;
      dueAt = null;
    },
    /** Wall-clock time of the pending retry, for the status; null when none. */
    dueAt: (): string | null => (dueAt === null ? null : new Date(dueAt).toISOString()),
    isPending: (): boolean => cancelTimer !== undefined,
  };
}
