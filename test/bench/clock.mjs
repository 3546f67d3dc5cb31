// Wall-clock time in nanoseconds since the epoch, comparable with what a shell
// fixture writes with `date +%s%N` (both read CLOCK_REALTIME), but with the
// resolution of process.hrtime. Date.now() alone has 1 ms resolution.

import { execFileSync } from 'node:child_process';

let offsetNs = 0n;

/** Pins hrtime to the wall clock at a millisecond edge: accurate to a few microseconds. */
export function calibrateClock() {
  const before = Date.now();
  let now;
  // Spin (at most ~1 ms) until the millisecond turns over.
  while ((now = Date.now()) === before);
  offsetNs = BigInt(now) * 1_000_000n - process.hrtime.bigint();
}

export function epochNs() {
  return process.hrtime.bigint() + offsetNs;
}

/** Milliseconds (float) from a to b, both epoch nanoseconds (bigint). */
export function msBetween(aNs, bNs) {
  return Number(bNs - aNs) / 1e6;
}

/** Monotonic milliseconds (float), for durations measured inside this process only. */
export function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Blocks this thread; used by the 1 ms /proc pollers so no event-loop jitter adds to the sample. */
export function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Checks the calibration against date(1): returns |error| in ms (date's own fork/exec bounds it). */
export function checkClockAgainstDate() {
  const before = epochNs();
  const stamp = BigInt(execFileSync('date', ['+%s%N'], { encoding: 'utf8' }).trim());
  const after = epochNs();
  if (stamp >= before && stamp <= after) return 0;
  return Math.min(Math.abs(msBetween(stamp, before)), Math.abs(msBetween(stamp, after)));
}
