// --on-exit restart: wait 1 s before the first restart, doubling up to 60 s,
// so a process that crashes at boot does not spin. A run that lasted longer
// than the longest wait counts as healthy and resets the back-off.

const FIRST_WAIT_MS = 1_000;
const LONGEST_WAIT_MS = 60_000;

export function createRestartBackoff() {
  let nextWaitMs = FIRST_WAIT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    /** The wait before the next restart, given when the process that just died had started. */
    next(startedAt: string | null): number {
      const ranMs = startedAt ? Date.now() - Date.parse(startedAt) : 0;
      if (ranMs > LONGEST_WAIT_MS) nextWaitMs = FIRST_WAIT_MS;
      const wait = nextWaitMs;
      nextWaitMs = Math.min(nextWaitMs * 2, LONGEST_WAIT_MS);
      return wait;
    },
    schedule(waitMs: number, restart: () => void): void {
      clearTimeout(timer);
      timer = setTimeout(restart, waitMs);
    },
    cancel(): void {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
