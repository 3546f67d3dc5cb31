// Asks Elasticsearch to reload secure settings after the keystore changed.
// At most one request in flight; changes meanwhile coalesce into one pending
// reload (serial-worker). Failures retry with back-off; while the process is
// not started the pending reload waits, re-checking each second (no timer
// when nothing is pending).

import type { Clock } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { ReloadClient, ReloadOutcome } from './reload-client.ts';
import type { SecretRead } from '../files/secrets.ts';
import { createSerialWorker, type PassResult } from './serial-worker.ts';
import type { ReloadFacts } from './status.ts';

const PROCESS_CHECK_MS = 1_000;

export interface ReloadLoopOptions {
  readonly client: ReloadClient;
  readonly log: Logger;
  readonly clock: Clock;
  readonly isProcessStarted: () => boolean;
  /** Read at each call (KEYSTORE_PASSWORD_FILE may rotate); undefined for an unprotected keystore. */
  readonly keystorePassword: () => Promise<SecretRead>;
}

export function createReloadLoop(options: ReloadLoopOptions) {
  const { client, log } = options;
  const abort = new AbortController();
  let isPending = false;
  let isWaitingForProcess = false;
  let lastFailure: { kind: string; isTransient: boolean } | null = null;
  const facts = { lastReloadAt: null as string | null, reloads: 0 };

  const settle = (outcome: ReloadOutcome): PassResult => {
    if (outcome.ok) {
      lastFailure = null;
      facts.lastReloadAt = options.clock.now().toISOString();
      facts.reloads++;
      log.info(`secure settings reloaded on ${outcome.nodes.join(', ')}`, {
        'event.action': 'keystore-reload',
        'event.outcome': 'success',
      });
      return { kind: 'done' };
    }
    if (outcome.kind === 'aborted' || abort.signal.aborted) return { kind: 'done' };
    isPending = true;
    lastFailure = { kind: outcome.kind, isTransient: outcome.isTransient };
    // ES booting refuses connections for a while: that is expected, so less loud.
    return {
      kind: 'failed',
      reason: outcome.reason,
      level: outcome.isTransient ? 'warn' : 'error',
      fields: { 'event.reason': outcome.kind },
    };
  };

  const reloadOnce = async (): Promise<PassResult> => {
    if (!isPending) return { kind: 'done' };
    if (!options.isProcessStarted()) {
      if (!isWaitingForProcess)
        log.info('keystore changed; waiting for the process to start before reloading secure settings', {
          'event.action': 'keystore-reload',
        });
      isWaitingForProcess = true;
      return { kind: 'wait', ms: PROCESS_CHECK_MS };
    }
    isWaitingForProcess = false;
    isPending = false;
    const password = await options.keystorePassword();
    if (!password.ok) return settle({ ok: false, kind: 'config', reason: password.reason, isTransient: false });
    return settle(await client.reload(password.value, abort.signal));
  };

  const worker = createSerialWorker({
    name: 'reloading secure settings',
    action: 'keystore-reload',
    log,
    clock: options.clock,
    pass: reloadOnce,
    isRequestRetryingAtOnce: false,
  });

  return {
    /** The keystore changed: reload once the process runs. */
    request(): void {
      isPending = true;
      // A retry or a process check already scheduled will carry this change too.
      worker.request('the keystore changed');
    },
    facts: (): ReloadFacts => {
      const work = worker.facts();
      return {
        ...facts,
        error: work.error === null || lastFailure === null ? null : { ...lastFailure, reason: work.error },
        consecutiveFailures: work.consecutiveFailures,
        reloadFailures: work.failures,
        isReloading: work.runningSince !== null && !isWaitingForProcess,
        isPending,
        isWaitingForProcess,
        nextRetryAt: isWaitingForProcess ? null : work.nextRetryAt,
      };
    },
    async close(): Promise<void> {
      abort.abort();
      await worker.close();
      await client.close();
    },
  };
}
