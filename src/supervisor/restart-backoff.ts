// --on-exit restart: wait 1 s before the first restart, doubling up to 60 s,
// so a process that crashes at boot does not spin. A run that lasted longer
// than the longest wait counts as healthy and resets the back-off.

import type { Clock } from './system.ts';

const FIRST_WAIT_MS = 1_000;
const LONGEST_WAIT_MS = 60_000;

export function createRestartBackoff(clock: Clock) {
  let nextWaitMs = FIRST_WAIT_MS;
  let cancelTimer: (() => void) | undefined;
  return {
    /** The wait before the next restart, given when the process that just died had started. */
    next(startedAt: string | null): number {
      const ranMs = startedAt ? clock.now().getTime() - Date.parse(startedAt) : 0;
      if (ranMs > LONGEST_WAIT_MS) nextWaitMs = FIRST_WAIT_MS;
      const wait = nextWaitMs;
      nextWaitMs = Math.min(nextWaitMs * 2, LONGEST_WAIT_MS);
      return wait;
    },
    schedule(waitMs: number, restart: () => void): void {
      cancelTimer?.();
      cancelTimer = clock.setTimer(waitMs, restart);
    },
    cancel(): void {
      cancelTimer?.();
      cancelTimer = undefined;
    },
  };
}
