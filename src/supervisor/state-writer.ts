// Puts the supervisor's state on disk without ever making the event loop
// wait: a write (two fsyncs) runs on libuv's threads, transitions made
// meanwhile coalesce into one next write of the latest state, and a write
// that fails (a full disk, a read-only volume) is retried with back-off until
// the state is on disk: an operator's stop is not forgotten because the disk
// was full for a minute. Saves made before open() wait for it, so nothing is
// written before the manager knows it will run (lock held, API listening).

import { errnoCode } from '../files/errno.ts';
import type { Logger } from '../log/logger.ts';
import type { PersistedState } from './state-file.ts';
import type { Clock } from '../clock/clock.ts';

const FIRST_RETRY_MS = 250;
const LONGEST_RETRY_MS = 10_000;

export interface StateWriter {
  save(state: PersistedState): void;
  /** From now on saves are written. */
  open(): void;
  /** The errno code of the last failed attempt; null once one succeeds. */
  error(): string | null;
  /**
   * 'saved' once everything saved so far is on disk; 'failed' as soon as an attempt at it fails (the retries go on);
   * 'pending' if neither happened within timeoutMs (a disk that hangs).
   */
  settled(timeoutMs: number): Promise<Settled>;
  /** True once everything saved is on disk; false if that takes longer than timeoutMs. */
  flush(timeoutMs: number): Promise<boolean>;
}

export type Settled = 'saved' | 'failed' | 'pending';

interface Waiter {
  readonly generation: number;
  /** Wait for success; a failed attempt does not answer it. */
  readonly untilOnDisk: boolean;
  readonly resolve: (isOnDisk: boolean) => void;
}

export function createStateWriter(
  write: (state: PersistedState) => Promise<void>,
  deps: { clock: Clock; log: Logger; file: string },
): StateWriter {
  const { clock, log } = deps;
  let isOpen = false;
  let pending: PersistedState | null = null;
  /** Each save is a generation; onDisk is the latest one known written. */
  let saved = 0;
  let onDisk = 0;
  /** The latest generation an attempt failed to write. */
  let failed = 0;
  let isWriting = false;
  let lastError: string | null = null;
  let failures = 0;
  let cancelRetry: (() => void) | null = null;
  const waiters = new Set<Waiter>();

  const answer = (generation: number, isOnDisk: boolean): void => {
    for (const waiter of waiters) {
      if (waiter.generation > generation || (waiter.untilOnDisk && !isOnDisk)) continue;
      waiters.delete(waiter);
      waiter.resolve(isOnDisk);
    }
  };

  const attempt = async (): Promise<void> => {
    cancelRetry?.();
    cancelRetry = null;
    if (isWriting || !isOpen || pending === null) return;
    isWriting = true;
    const state = pending;
    const generation = saved;
    pending = null;
    try {
      await write(state);
      onDisk = generation;
      if (lastError !== null)
        log.info(`the state file is written again, after ${failures} failed attempts`, {
          'event.action': 'state-file',
          'file.path': deps.file,
        });
      lastError = null;
      failures = 0;
      answer(generation, true);
    } catch (error) {
      pending ??= state; // unless a newer save has replaced it
      failures++;
      const code = errnoCode(error) ?? 'write failed';
      // Once per kind of failure, not once per retry.
      if (code !== lastError) {
        log.error(
          `cannot write the state file: ${(error as Error).message}; retrying until it is written (until then a container restart would not know the last stop or start)`,
          {
            'event.action': 'state-file',
            'file.path': deps.file,
            'error.code': code,
          },
        );
      }
      lastError = code;
      failed = generation;
      answer(generation, false);
    } finally {
      isWriting = false;
    }
    if (pending === null) return;
    if (failures === 0) return attempt();
    const waitMs = Math.min(FIRST_RETRY_MS * 2 ** (failures - 1), LONGEST_RETRY_MS);
    cancelRetry = clock.setTimer(waitMs, () => void attempt());
  };

  const waitFor = (untilOnDisk: boolean): Promise<boolean> => {
    if (onDisk === saved) return Promise.resolve(true);
    if (!untilOnDisk && failed === saved) return Promise.resolve(false);
    return new Promise((resolve) => waiters.add({ generation: saved, untilOnDisk, resolve }));
  };

  /** The promise's value, or null if it takes longer than timeoutMs. */
  const within = async <T>(timeoutMs: number, promise: Promise<T>): Promise<T | null> => {
    let cancel = (): void => {};
    const timedOut = new Promise<null>((resolve) => (cancel = clock.setTimer(timeoutMs, () => resolve(null))));
    const value = await Promise.race([promise, timedOut]);
    cancel();
    return value;
  };

  return {
    save(state) {
      pending = state;
      saved++;
      // A new state is tried at once, even during a retry's back-off.
      void attempt();
    },
    open() {
      isOpen = true;
      void attempt();
    },
    error: () => lastError,
    async settled(timeoutMs) {
      const outcome = await within(timeoutMs, waitFor(false));
      return outcome === null ? 'pending' : outcome ? 'saved' : 'failed';
    },
    async flush(timeoutMs) {
      return (await within(timeoutMs, waitFor(true))) ?? false;
    },
  };
}
