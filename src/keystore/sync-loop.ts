// Keeps the keystore equal to SOURCE_DIR. One sync runs at a time; requests
// arriving meanwhile coalesce into one more pass. A pass rescans, diffs the
// digests against what was last applied, applies only that, and records it.
// Failures are retried with back-off; a new event retries at once.

import type { KeystoreConfig } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { saveRecord, fingerprintFile, type AppliedRecord } from './applied-record.ts';
import type { Applier } from './apply-diff.ts';
import { createRetryTimer, retryDelayMs } from './backoff.ts';
import { diffSettings, isEmptyDiff, type KeystoreDiff } from './diff.ts';
import { scanSource, type IgnoredEntry, type Snapshot } from './scan-source.ts';
import { readSecret } from './secrets.ts';
import type { SyncFacts } from './status.ts';

/** A source file vanishing under the CLI is a Secret swap, not a failure; rescan this often before calling it one. */
const SWAP_RACE_RETRIES = 3;
const CLOSE_WAIT_MS = 10_000;

export interface SyncLoopOptions {
  readonly config: KeystoreConfig;
  readonly log: Logger;
  readonly applier: Applier;
  readonly record: AppliedRecord;
  readonly recordFile: string;
  /** Maps a value's sha256 to the digest kept in the record. */
  readonly digest: (hash: string) => string;
  /** Before every scan: the backstop's baseline of SOURCE_DIR is taken. */
  readonly beforeScan: () => Promise<void>;
  /** After every scan: the watcher follows SOURCE_DIR appearing or going. */
  readonly onScanned: () => void;
  /** After every pass, written or not: the backstop's baseline of the keystore is taken. */
  readonly afterPass: () => void;
  /** The keystore was written; isBootSync when that happened before the process was first started. */
  readonly onKeystoreChanged: (isBootSync: boolean) => void;
}

export function createSyncLoop(options: SyncLoopOptions) {
  const { config, log, applier, record, recordFile } = options;
  const now = (): string => new Date().toISOString();
  let running: Promise<void> | null = null;
  let isRequestedAgain = false;
  let isBootSync = true;
  let isClosed = false;
  let swapRaces = 0;
  let lastLoggedError: string | null = null;
  let lastIgnored = '';
  const facts = {
    isSyncing: true,
    syncingWhat: null as string | null,
    error: null as string | null,
    consecutiveFailures: 0,
    ignored: [] as readonly IgnoredEntry[],
    revision: record.revision,
    lastScanAt: null as string | null,
    lastSyncAt: null as string | null,
    lastChangeAt: record.appliedAt,
    /** Passes that ended with the keystore equal to the directory. */
    scans: 0,
    /** Passes that wrote the keystore successfully. */
    syncs: 0,
    syncFailures: 0,
    cliCalls: 0,
  };
  const retry = createRetryTimer(() => request('retry after a failure'));

  const fail = (reason: string): void => {
    facts.error = reason;
    facts.consecutiveFailures++;
    facts.syncFailures++;
    const delay = retryDelayMs(facts.consecutiveFailures);
    if (!isClosed) retry.schedule(delay);
    // The same reason every retry (a missing directory, a broken CLI) is logged once.
    const level = reason === lastLoggedError ? 'debug' : 'error';
    lastLoggedError = reason;
    log[level](`keystore sync failed: ${reason}; retrying in ${(delay / 1000).toFixed(1)} s`, {
      'event.action': 'keystore-sync',
      'event.outcome': 'failure',
      'error.message': reason,
    });
  };

  const succeed = (snapshot: Snapshot): void => {
    if (facts.error !== null) log.info('keystore sync recovered', { 'event.action': 'keystore-sync', 'event.outcome': 'success' });
    facts.error = null;
    facts.consecutiveFailures = 0;
    lastLoggedError = null;
    swapRaces = 0;
    retry.cancel();
    facts.revision = snapshot.revision;
    facts.lastSyncAt = now();
    facts.scans++;
  };

  const noteIgnored = (ignored: readonly IgnoredEntry[]): void => {
    facts.ignored = ignored;
    const text = ignored.map((entry) => `${entry.name} (${entry.reason})`).join(', ');
    if (text !== '' && text !== lastIgnored) log.warn(`SOURCE_DIR entries ignored: ${text}`, { 'event.action': 'keystore-sync' });
    lastIgnored = text;
  };

  /** The diff to apply, or a reason it cannot be computed. */
  const plan = async (snapshot: Snapshot): Promise<{ diff: KeystoreDiff; keystoreExists: boolean } | string> => {
    let fingerprint: string | null;
    try {
      fingerprint = await fingerprintFile(config.keystorePath);
    } catch (error) {
      return `cannot read the keystore ${config.keystorePath}: ${(error as Error).message}`;
    }
    if (fingerprint === null && record.settings.size > 0) {
      log.warn(`the keystore ${config.keystorePath} is gone; adding every setting again`, { 'event.action': 'keystore-sync' });
      record.settings.clear();
      record.keystoreSha256 = null;
    }
    const current = new Map([...snapshot.hashes].map(([name, hash]) => [name, options.digest(hash)]));
    const diff = diffSettings(record.settings, new Set(record.settings.keys()), current);
    if (current.size === 0 || fingerprint === null || fingerprint === record.keystoreSha256 || record.keystoreSha256 === null) {
      return { diff, keystoreExists: fingerprint !== null };
    }
    // Written by someone else since our last write (entrypoint, ES, an operator), with or without a
    // Secret change (the backstop poll notices either): our values may be gone or changed. Re-adding
    // all of them is one add-file call, and none is spent while nobody touches the keystore.
    log.info('the keystore was modified outside the updater; re-adding every setting from SOURCE_DIR', { 'event.action': 'keystore-sync' });
    return { diff: { upserts: [...current.keys()].sort(), removals: diff.removals }, keystoreExists: true };
  };

  const syncOnce = async (): Promise<void> => {
    retry.cancel();
    await options.beforeScan();
    const scan = await scanSource(config.sourceDir);
    facts.lastScanAt = now();
    options.onScanned();
    if (!scan.ok) return fail(scan.reason);
    const { snapshot } = scan;
    noteIgnored(snapshot.ignored);
    const password = await readSecret(config.keystorePassword, config.keystorePasswordFile, 'KEYSTORE_PASSWORD_FILE');
    if (!password.ok) return fail(password.reason);
    const planned = await plan(snapshot);
    if (typeof planned === 'string') return fail(planned);
    const { diff, keystoreExists } = planned;
    if (isEmptyDiff(diff)) return succeed(snapshot);

    const what = describeDiff(diff, record.settings);
    facts.isSyncing = true;
    facts.syncingWhat = what;
    const started = performance.now();
    const outcome = await applier.apply({
      upserts: diff.upserts.map((name) => snapshot.entries.get(name)!),
      removals: diff.removals,
      keystoreExists,
      password: password.value,
    });
    facts.cliCalls += outcome.calls;

    // Book what was saved, even on failure: the record must say what the keystore holds.
    for (const name of outcome.upserted) record.settings.set(name, options.digest(snapshot.hashes.get(name)!));
    for (const name of outcome.removed) record.settings.delete(name);
    if (outcome.hasWritten) {
      record.keystoreSha256 = await fingerprintFile(config.keystorePath).catch(() => null);
      record.appliedAt = facts.lastChangeAt = now();
      if (outcome.ok) record.revision = snapshot.revision;
      await saveRecord(recordFile, record).catch((error: Error) =>
        log.warn(`cannot save ${recordFile}: ${error.message}; the next start re-adds every setting`, { 'event.action': 'keystore-sync' }),
      );
      options.onKeystoreChanged(isBootSync);
    }
    const durationMs = Math.round(performance.now() - started);
    if (outcome.ok) {
      succeed(snapshot);
      facts.syncs++;
      log.info(`keystore updated: ${what} (${outcome.calls} elasticsearch-keystore call${outcome.calls === 1 ? '' : 's'}, ${durationMs} ms)`, {
        'event.action': 'keystore-sync',
        'event.outcome': 'success',
        'event.duration': durationMs * 1e6,
        'keystore.revision': snapshot.revision,
      });
      return;
    }
    if (outcome.isSourceGone && swapRaces < SWAP_RACE_RETRIES) {
      swapRaces++;
      log.debug(`a source file vanished under elasticsearch-keystore (Secret swap); rescanning`, { 'event.action': 'keystore-sync' });
      isRequestedAgain = true;
      return;
    }
    fail(outcome.reason ?? 'elasticsearch-keystore failed');
  };

  let resolveFirstPass: () => void = () => {};
  const firstPass = new Promise<void>((resolve) => (resolveFirstPass = resolve));

  const request = (why: string): void => {
    if (isClosed) return;
    if (running) {
      isRequestedAgain = true;
      return;
    }
    log.debug(`rescanning SOURCE_DIR (${why})`, { 'event.action': 'keystore-scan' });
    running = (async () => {
      do {
        isRequestedAgain = false;
        try {
          await syncOnce();
        } catch (error) {
          fail(`internal error: ${(error as Error).message}`);
        }
        options.afterPass();
        // Only now: until the record and revision are booked, "synced" would be a lie.
        facts.syncingWhat = null;
        facts.isSyncing = false;
        // The boot waits for one pass only: a directory that never stops changing must not hold the process back.
        isBootSync = false;
        resolveFirstPass();
      } while (isRequestedAgain && !isClosed);
    })().finally(() => {
      running = null;
    });
  };

  return {
    request,
    /** Runs the first sync; resolves when its first pass has finished or failed. */
    start(): Promise<void> {
      request('first sync');
      return firstPass;
    },
    facts: (): SyncFacts => ({
      ...facts,
      nextRetryAt: retry.dueAt(),
      settings: [...record.settings.keys()].sort(),
      cliSupportsMultiPair: applier.supportsMultiPair(),
    }),
    async close(): Promise<void> {
      isClosed = true;
      retry.cancel();
      // A CLI call in flight is left to finish: killing it could strand its temp file and block later saves.
      if (running) await Promise.race([running, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS))]);
    },
  };
}

/** "add a, change b, remove c": names only. */
function describeDiff(diff: KeystoreDiff, applied: ReadonlyMap<string, string>): string {
  const added = diff.upserts.filter((name) => !applied.has(name));
  const changed = diff.upserts.filter((name) => applied.has(name));
  const parts = [
    added.length ? `add ${added.join(', ')}` : '',
    changed.length ? `change ${changed.join(', ')}` : '',
    diff.removals.length ? `remove ${diff.removals.join(', ')}` : '',
  ];
  return parts.filter(Boolean).join('; ');
}
