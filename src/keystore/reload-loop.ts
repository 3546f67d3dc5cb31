// Asks Elasticsearch to reload secure settings after the keystore changed.
// At most one request in flight; changes meanwhile coalesce into one pending
// reload. Failures retry with back-off; while the process is not started the
// pending reload waits, re-checking each second (no timer when nothing is pending).

import type { Logger } from '../log/logger.ts';
import { createRetryTimer, retryDelayMs } from './backoff.ts';
import type { ReloadClient, ReloadOutcome } from './reload-client.ts';
import type { SecretRead } from './secrets.ts';
import type { ReloadFacts } from './status.ts';

const PROCESS_CHECK_MS = 1_000;

export interface ReloadLoopOptions {
  readonly client: ReloadClient;
  readonly log: Logger;
  readonly isProcessStarted: () => boolean;
  /** Read at each call (KEYSTORE_PASSWORD_FILE may rotate); undefined for an unprotected keystore. */
  readonly keystorePassword: () => Promise<SecretRead>;
}

export function createReloadLoop(options: ReloadLoopOptions) {
  const { client, log } = options;
  const abort = new AbortController();
  let isPending = false;
  let inFlight: Promise<void> | null = null;
  let isClosed = false;
  let isWaitingForProcess = false;
  let lastLoggedError: string | null = null;
  const facts = {
    error: null as { kind: string; reason: string; isTransient: boolean } | null,
    consecutiveFailures: 0,
    lastReloadAt: null as string | null,
    reloads: 0,
    reloadFailures: 0,
  };
  const timer = createRetryTimer(() => attempt());

  const settle = (outcome: ReloadOutcome): void => {
    if (outcome.ok) {
      facts.error = null;
      facts.consecutiveFailures = 0;
      facts.lastReloadAt = new Date().toISOString();
      facts.reloads++;
      lastLoggedError = null;
      log.info(`secure settings reloaded on ${outcome.nodes.join(', ')}`, { 'event.action': 'keystore-reload', 'event.outcome': 'success' });
      return;
    }
    if (outcome.kind === 'aborted' || isClosed) return;
    isPending = true;
    facts.error = { kind: outcome.kind, reason: outcome.reason, isTransient: outcome.isTransient };
    facts.consecutiveFailures++;
    facts.reloadFailures++;
    const delay = retryDelayMs(facts.consecutiveFailures);
    timer.schedule(delay);
    // ES booting refuses connections for a while: that is expected, so less loud, and once per reason.
    const level = outcome.reason === lastLoggedError ? 'debug' : outcome.isTransient ? 'warn' : 'error';
    lastLoggedError = outcome.reason;
    log[level](`reloading secure settings failed (${outcome.kind}): ${outcome.reason}; retrying in ${(delay / 1000).toFixed(1)} s`, {
      'event.action': 'keystore-reload',
      'event.outcome': 'failure',
      'event.reason': outcome.kind,
      'error.message': outcome.reason,
    });
  };

  function attempt(): void {
    if (isClosed || !isPending || inFlight) return;
    if (!options.isProcessStarted()) {
      if (!isWaitingForProcess) log.info('keystore changed; waiting for the process to start before reloading secure settings', { 'event.action': 'keystore-reload' });
      isWaitingForProcess = true;
      timer.schedule(PROCESS_CHECK_MS);
      return;
    }
    isWaitingForProcess = false;
    isPending = false;
    timer.cancel();
    inFlight = (async () => {
      const password = await options.keystorePassword();
      settle(password.ok ? await client.reload(password.value, abort.signal) : { ok: false, kind: 'config', reason: password.reason, isTransient: false });
    })()
      .catch((error: Error) => settle({ ok: false, kind: 'network', reason: `internal error: ${error.message}`, isTransient: false }))
      .finally(() => {
        inFlight = null;
        // A change that landed during the request may not have been read: go again.
        if (isPending && !timer.isPending()) attempt();
      });
  }

  return {
    /** The keystore changed: reload once the process runs. */
    request(): void {
      isPending = true;
      // A retry or a process check already scheduled will carry this change too.
      if (!timer.isPending()) attempt();
    },
    facts: (): ReloadFacts => ({
      ...facts,
      isReloading: inFlight !== null,
      isPending,
      isWaitingForProcess,
      nextRetryAt: isWaitingForProcess ? null : timer.dueAt(),
    }),
    async close(): Promise<void> {
      isClosed = true;
      timer.cancel();
      abort.abort();
      await inFlight;
      await client.close();
    },
  };
}
