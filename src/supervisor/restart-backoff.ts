// --on-exit restart: wait 1 s before the first restart, doubling up to 60 s,
// so a process that crashes at boot does not spin. A run that lasted longer
// than the longest wait counts as healthy and resets the back-off.

import type { Clock } from '../clock/clock.ts';

const FIRST_WAIT_MS = 1_000;
const LONGEST_WAIT_MS = 60_000;

export type RestartBackoff = ReturnType<typeof createRestartBackoff>;

export function createRestartBackoff(clock: Clock) {
  let nextWaitMs = FIRST_WAIT_MS;
  let cancelTimer: (() => void) | undefined;
  /** When the current run started, on the monotonic clock: a wall-clock jump must not pass for a long, healthy run. */
  let runStartedMs: number | null = null;
  return {
    /** A process was spawned. */
    runStarted(): void {
      runStartedMs = clock.monotonicMs();
    },
    /** The wait before the next restart, after the process that runStarted() saw has died. */
    next(): number {
      const ranMs = runStartedMs === null ? 0 : clock.monotonicMs() - runStartedMs;
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
