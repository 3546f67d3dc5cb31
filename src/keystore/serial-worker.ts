// "One in flight, coalesce the next, retry with back-off, log a repeated
// reason once", for the sync and the reload loops. A pass says how it ended;
// the worker decides when the next one runs:
//   done    nothing more until the next request;
//   again   run once more at once (the source moved under the pass);
//   wait    look again after `ms`, without counting a failure (ES not started);
//   failed  retry with exponential back-off and jitter (backoff.ts).
// Requests that arrive during a pass coalesce into one more pass after it.

import type { Clock } from '../clock/clock.ts';
import type { LogFields, Logger } from '../log/logger.ts';
import { createRetryTimer, retryDelayMs } from './backoff.ts';
import { trackRepeats } from '../log/repeats.ts';

export type PassResult =
  | { readonly kind: 'done' }
  | { readonly kind: 'again' }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'failed'; readonly reason: string; readonly level: 'warn' | 'error'; readonly fields?: LogFields };

export interface SerialWorkerOptions {
  /** What a pass does, for log lines: "keystore sync". */
  readonly name: string;
  readonly action: string;
  readonly log: Logger;
  readonly clock: Clock;
  readonly pass: () => Promise<PassResult>;
  /** True: a request while a retry is scheduled runs at once. False: the scheduled retry carries it. */
  readonly isRequestRetryingAtOnce: boolean;
  /** After every pass, whatever its result. */
  readonly afterPass?: (result: PassResult) => void;
  readonly random?: () => number;
}

interface WorkerFacts {
  /** Wall-clock start of the pass in flight, or null: shown, never subtracted from. */
  readonly runningSince: string | null;
  /** How long the pass in flight has run, on the monotonic clock, or null. */
  readonly runningForMs: number | null;
  /** Reason of the last failed pass, until a pass succeeds. */
  readonly error: string | null;
  readonly consecutiveFailures: number;
  /** When the scheduled retry (not a wait) runs, or null. */
  readonly nextRetryAt: string | null;
  readonly failures: number;
}

export interface SerialWorker {
  request(why: string): void;
  facts(): WorkerFacts;
  isRunning(): boolean;
  /** No pass starts after this; resolves when the one in flight ends, or after maxWaitMs. */
  close(maxWaitMs?: number): Promise<void>;
}

export function createSerialWorker(options: SerialWorkerOptions): SerialWorker {
  const { log, name, action, clock } = options;
  let running: Promise<void> | null = null;
  let runningSince: string | null = null;
  /** The same moment on the monotonic clock: how long a pass has run survives a wall-clock jump. */
  let runningSinceMs = 0;
  let isRequestedAgain = false;
  let isClosed = false;
  let isRetryScheduled = false;
  const reasons = trackRepeats<string>();
  const facts = { error: null as string | null, consecutiveFailures: 0, failures: 0 };
  const timer = createRetryTimer(clock, () => {
    isRetryScheduled = false;
    start(facts.error !== null ? 'retry after a failure' : 'looking again');
  });

  const settle = (result: PassResult): void => {
    if (result.kind === 'failed') {
      facts.error = result.reason;
      facts.consecutiveFailures++;
      facts.failures++;
      const delay = retryDelayMs(facts.consecutiveFailures, options.random);
      if (!isClosed) {
        timer.schedule(delay);
        isRetryScheduled = true;
      }
      // The same reason at every retry (a missing directory, ES down) is said once.
      const level = reasons.isNew(result.reason) ? result.level : 'debug';
      log[level](`${name} failed: ${result.reason}; retrying in ${(delay / 1000).toFixed(1)} s`, {
        'event.action': action,
        'event.outcome': 'failure',
        'error.message': result.reason,
        ...result.fields,
      });
      return;
    }
    if (result.kind === 'wait') {
      if (!isClosed) timer.schedule(result.ms);
      return;
    }
    if (facts.error !== null && result.kind === 'done')
      log.info(`${name} recovered`, { 'event.action': action, 'event.outcome': 'success' });
    if (result.kind === 'done') {
      facts.error = null;
      facts.consecutiveFailures = 0;
      reasons.forget();
    }
    if (result.kind === 'again') isRequestedAgain = true;
  };

  function cancelRetry(): void {
    timer.cancel();
    isRetryScheduled = false;
  }

  function start(why: string): void {
    if (isClosed) return;
    if (running) {
      isRequestedAgain = true;
      return;
    }
    cancelRetry();
    log.debug(`${name}: ${why}`, { 'event.action': action });
    running = (async () => {
      do {
        isRequestedAgain = false;
        if (options.isRequestRetryingAtOnce) cancelRetry();
        runningSince = clock.now().toISOString();
        runningSinceMs = clock.monotonicMs();
        let result: PassResult;
        try {
          result = await options.pass();
        } catch (error) {
          result = { kind: 'failed', reason: `internal error: ${(error as Error).message}`, level: 'error' };
        }
        runningSince = null;
        settle(result);
        options.afterPass?.(result);
        // Unless requests retry at once, the scheduled timer answers those that came meanwhile.
        if (result.kind === 'wait' || (result.kind === 'failed' && !options.isRequestRetryingAtOnce)) break;
      } while (isRequestedAgain && !isClosed);
    })().finally(() => {
      running = null;
    });
  }

  return {
    request(why) {
      if (timer.isPending() && !options.isRequestRetryingAtOnce) return;
      start(why);
    },
    facts: () => ({
      runningSince,
      runningForMs: runningSince === null ? null : Math.round(clock.monotonicMs() - runningSinceMs),
      error: facts.error,
      consecutiveFailures: facts.consecutiveFailures,
      nextRetryAt: isRetryScheduled ? timer.dueAt() : null,
      failures: facts.failures,
    }),
    isRunning: () => running !== null,
    async close(maxWaitMs = Number.POSITIVE_INFINITY) {
      isClosed = true;
      cancelRetry();
      if (!running) return;
      let cancelWait = (): void => {};
      await Promise.race([
        running,
        new Promise<void>((resolve) => {
          if (Number.isFinite(maxWaitMs)) cancelWait = clock.setTimer(maxWaitMs, resolve);
        }),
      ]);
      cancelWait();
    },
  };
}
