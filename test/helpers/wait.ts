// The one way tests wait: for a fact, with a generous deadline that names
// what never came. Deadlines run on the monotonic clock, so a test that moves
// the wall clock cannot end a wait early or make it hang.

type Truthy<T> = Exclude<T, undefined | null | false | 0 | ''>;

/** Polls cond until it returns a truthy value (its value is returned); all waiting in tests goes through here. */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 20,
): Promise<Truthy<T>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await cond();
    if (value) return value as Truthy<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Awaits an event that has no deadline of its own (an exit, a close) with one: a test that waits for something
 * that never comes fails naming it, instead of hanging until tap ends the file.
 */
export function within<T>(event: Promise<T>, what: string, timeoutMs = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)), timeoutMs);
  });
  return Promise.race([event, expired]).finally(() => clearTimeout(timer));
}
