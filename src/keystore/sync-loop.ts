// Keeps the keystore equal to SOURCE_DIR. One sync runs at a time; requests
// arriving meanwhile coalesce into one more pass (serial-worker). A pass
// rescans, diffs the digests against what was last applied, applies only
// that, and records it. Failures are retried with back-off; a new event
// retries at once.

import type { KeystoreConfig } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import type { Clock } from '../clock/clock.ts';
import { fingerprintFile, PENDING_DIGEST, type AppliedRecord } from './applied-record.ts';
import type { Applier, ApplyOutcome } from './apply-diff.ts';
import type { CommitResult, Workspace } from './keystore-swap.ts';
import type { KeystoreFiles } from './system.ts';
import { diffSettings, isEmptyDiff, type KeystoreDiff } from './diff.ts';
import { scanSource, type IgnoredEntry, type Snapshot } from './scan-source.ts';
import { readSecret } from '../files/secrets.ts';
import { createSerialWorker, type PassResult } from './serial-worker.ts';
import type { SyncFacts } from './status.ts';
import { checkKeystoreDirectory } from './keystore-directory.ts';
import { trackRepeats } from '../log/repeats.ts';

/** A source file changing between the scan and the CLI call is most likely a Secret swap, not a failure; rescan this often before calling it one. */
const SWAP_RACE_RETRIES = 3;
const CLOSE_WAIT_MS = 10_000;
/** Updates dropped in a row because another writer got there first, before the pass counts as failed and backs off. */
const CONFLICT_RETRIES = 5;

export interface SyncLoopOptions {
  readonly config: KeystoreConfig;
  readonly log: Logger;
  readonly applier: Applier;
  /** The record's writes and the keystore's swap: where a crash may fall. */
  readonly files: Pick<KeystoreFiles, 'saveRecord' | 'openWorkspace'>;
  readonly clock: Clock;
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
  const { config, log, applier, record, recordFile, files, clock } = options;
  const now = (): string => clock.now().toISOString();
  let isBootSync = true;
  let swapRaces = 0;
  let casConflicts = 0;
  const ignoredSaid = trackRepeats('');
  /** The first pass is awaited from here (the watcher gets ready first): a first pass that never begins looks stuck too. */
  const createdAtMs = clock.monotonicMs();
  const facts = {
    /** True until the first pass ends, so the status never says "synced" before anything was read. */
    isFirstPassPending: true,
    syncingWhat: null as string | null,
    ignored: [] as readonly IgnoredEntry[],
    revision: record.revision,
    lastScanAt: null as string | null,
    lastSyncAt: null as string | null,
    lastChangeAt: record.appliedAt,
    /** Passes that ended with the keystore equal to the directory. */
    scans: 0,
    /** Passes that wrote the keystore successfully. */
    syncs: 0,
    cliCalls: 0,
  };

  const failed = (reason: string): PassResult => ({ kind: 'failed', reason, level: 'error' });

  const succeed = (snapshot: Snapshot): PassResult => {
    swapRaces = 0;
    casConflicts = 0;
    facts.revision = snapshot.revision;
    facts.lastSyncAt = now();
    facts.scans++;
    return { kind: 'done' };
  };

  const noteIgnored = (ignored: readonly IgnoredEntry[]): void => {
    facts.ignored = ignored;
    const text = ignored.map((entry) => `${entry.name} (${entry.reason})`).join(', ');
    if (ignoredSaid.isNew(text) && text !== '')
      log.warn(`SOURCE_DIR entries ignored: ${text}`, { 'event.action': 'keystore-sync' });
  };

  /** The diff to apply, or a reason it cannot be computed. */
  const plan = async (snapshot: Snapshot): Promise<{ diff: KeystoreDiff; fingerprint: string | null } | string> => {
    // The CLI's launcher falls back to its working directory when ES_PATH_CONF does not exist, and writes a keystore there.
    const directoryProblem = await checkKeystoreDirectory(config.keystorePath);
    if (directoryProblem !== null) return directoryProblem;
    let fingerprint: string | null;
    try {
      fingerprint = await fingerprintFile(config.keystorePath);
    } catch (error) {
      return `cannot read the keystore ${config.keystorePath}: ${(error as Error).message}`;
    }
    if (fingerprint === null && record.settings.size > 0) {
      // Names only booked (pending) were never known to be in it: no news that they are not.
      if ([...record.settings.values()].some((digest) => digest !== PENDING_DIGEST)) {
        log.warn(`the keystore ${config.keystorePath} is gone; adding every setting again`, {
          'event.action': 'keystore-sync',
        });
      }
      record.settings.clear();
      record.keystoreSha256 = null;
    }
    const current = new Map([...snapshot.hashes].map(([name, hash]) => [name, options.digest(hash)]));
    // An entry present but unreadable this time keeps what was applied for it: neither rewritten nor removed.
    const managed = new Set([...record.settings.keys()].filter((name) => !snapshot.held.has(name)));
    const diff = diffSettings(record.settings, managed, current);
    if (
      current.size === 0 ||
      fingerprint === null ||
      fingerprint === record.keystoreSha256 ||
      record.keystoreSha256 === null
    ) {
      return { diff, fingerprint };
    }
    // Written by someone else since our last write (entrypoint, ES, an operator), with or without a
    // Secret change (the backstop poll notices either): our values may be gone or changed. Re-adding
    // all of them is one add-file call, and none is spent while nobody touches the keystore.
    log.info('the keystore was modified outside the updater; re-adding every setting from SOURCE_DIR', {
      'event.action': 'keystore-sync',
    });
    return { diff: { upserts: [...current.keys()].sort(), removals: diff.removals }, fingerprint };
  };

  /** Another writer's change won: ours was not put in place. Start again from its version, a few times at once. */
  const concurrentWriter = (what: string): PassResult => {
    casConflicts++;
    log.warn(
      `another writer changed the keystore ${config.keystorePath} while we updated a copy of it (${what}); our update was dropped, starting again from its version`,
      {
        'event.action': 'keystore-sync',
        'event.reason': 'concurrent-writer',
      },
    );
    if (casConflicts <= CONFLICT_RETRIES) return { kind: 'again' };
    return failed(
      `the keystore ${config.keystorePath} keeps changing under every update (${casConflicts} times in a row): another writer is busy with it`,
    );
  };

  const syncOnce = async (): Promise<PassResult> => {
    await options.beforeScan();
    const scan = await scanSource(config.sourceDir);
    facts.lastScanAt = now();
    options.onScanned();
    if (!scan.ok) return failed(scan.reason);
    const { snapshot } = scan;
    noteIgnored(snapshot.ignored);
    const password = await readSecret(config.keystorePassword, config.keystorePasswordFile, 'KEYSTORE_PASSWORD_FILE');
    if (!password.ok) return failed(password.reason);
    const planned = await plan(snapshot);
    if (typeof planned === 'string') return failed(planned);
    const { diff, fingerprint } = planned;
    if (isEmptyDiff(diff)) return succeed(snapshot);

    const what = describeDiff(diff, record.settings);
    // Intent first: a name about to be added is booked as ours before any call, so that wherever the manager dies
    // (before the call, during it, after the CLI saved, before the record below), a later removal from SOURCE_DIR
    // still removes it.
    const fresh = diff.upserts.filter((name) => !record.settings.has(name));
    if (fresh.length > 0) {
      for (const name of fresh) record.settings.set(name, PENDING_DIGEST);
      try {
        await files.saveRecord(recordFile, record);
      } catch (error) {
        return failed(`cannot save ${recordFile} before adding ${fresh.join(', ')}: ${(error as Error).message}`);
      }
    }
    facts.syncingWhat = what;
    const started = clock.monotonicMs();
    let workspace: Workspace | { readonly conflict: string };
    try {
      workspace = await files.openWorkspace(config.keystorePath, fingerprint);
    } catch (error) {
      return failed(`cannot copy the keystore ${config.keystorePath} to work on: ${(error as Error).message}`);
    }
    if ('conflict' in workspace) return concurrentWriter(workspace.conflict);
    let outcome: ApplyOutcome;
    let committed: CommitResult | Error | null = null;
    try {
      outcome = await applier.apply({
        upserts: diff.upserts.map((name) => snapshot.entries.get(name)!),
        sourceRoot: snapshot.root,
        removals: diff.removals,
        configDir: workspace.dir,
        keystoreExists: workspace.keystoreExists,
        password: password.value,
      });
      if (outcome.hasWritten) {
        committed = await workspace.commit().catch((error: Error) => error);
        if (committed instanceof Error)
          return failed(`cannot put the updated keystore in place at ${config.keystorePath}: ${committed.message}`);
      }
    } finally {
      await workspace.dispose();
    }
    facts.cliCalls += outcome.calls;
    if (committed?.kind === 'conflict') return concurrentWriter(committed.what);

    // Book what was saved, even on failure: the record must say what the keystore holds.
    for (const name of outcome.upserted) record.settings.set(name, options.digest(snapshot.hashes.get(name)!));
    for (const name of outcome.removed) record.settings.delete(name);
    if (committed !== null) {
      record.keystoreSha256 = committed.sha256;
      record.appliedAt = facts.lastChangeAt = now();
      if (outcome.ok) record.revision = snapshot.revision;
      await files.saveRecord(recordFile, record).catch((error: Error) =>
        log.warn(`cannot save ${recordFile}: ${error.message}; the next start re-adds every setting`, {
          'event.action': 'keystore-sync',
        }),
      );
      options.onKeystoreChanged(isBootSync);
    }
    const durationMs = Math.round(clock.monotonicMs() - started);
    if (outcome.ok) {
      facts.syncs++;
      log.info(
        `keystore updated: ${what} (${outcome.calls} elasticsearch-keystore call${outcome.calls === 1 ? '' : 's'}, ${durationMs} ms)`,
        {
          'event.action': 'keystore-sync',
          'event.outcome': 'success',
          'event.duration': durationMs * 1e6,
          'keystore.revision': snapshot.revision,
        },
      );
      return succeed(snapshot);
    }
    if (outcome.isSourceChanged && swapRaces < SWAP_RACE_RETRIES) {
      swapRaces++;
      // Said at info: a Secret swap at that moment is ordinary, a symlink planted there is worth seeing.
      log.info(`not applied: ${outcome.reason}; rescanning SOURCE_DIR`, { 'event.action': 'keystore-sync' });
      return { kind: 'again' };
    }
    return failed(outcome.reason ?? 'elasticsearch-keystore failed');
  };

  let resolveFirstPass: () => void = () => {};
  const firstPass = new Promise<void>((resolve) => (resolveFirstPass = resolve));

  const worker = createSerialWorker({
    name: 'keystore sync',
    action: 'keystore-sync',
    log,
    clock,
    pass: syncOnce,
    isRequestRetryingAtOnce: true,
    afterPass: () => {
      options.afterPass();
      // Only now: until the record and revision are booked, "synced" would be a lie.
      facts.syncingWhat = null;
      facts.isFirstPassPending = false;
      // The boot waits for one pass only: a directory that never stops changing must not hold the process back.
      isBootSync = false;
      resolveFirstPass();
    },
  });

  return {
    request: (why: string): void => worker.request(`rescanning SOURCE_DIR (${why})`),
    /** Runs the first sync; resolves when its first pass has finished or failed. */
    start(): Promise<void> {
      worker.request('rescanning SOURCE_DIR (first sync)');
      return firstPass;
    },
    facts: (): SyncFacts => {
      const work = worker.facts();
      return {
        ...facts,
        isSyncing: facts.isFirstPassPending || facts.syncingWhat !== null,
        syncingSince: work.runningSince,
        syncingForMs:
          work.runningForMs ??
          (facts.isFirstPassPending && work.error === null ? Math.round(clock.monotonicMs() - createdAtMs) : null),
        error: work.error,
        consecutiveFailures: work.consecutiveFailures,
        syncFailures: work.failures,
        nextRetryAt: work.nextRetryAt,
        // A name booked before its call is not known to be in the keystore: listed once the call saved it.
        settings: [...record.settings]
          .filter(([, digest]) => digest !== PENDING_DIGEST)
          .map(([name]) => name)
          .sort(),
        cliSupportsMultiPair: applier.supportsMultiPair(),
      };
    },
    // A CLI call in flight is left to finish (its deadline bounds it): killing it could strand its temp file and block later saves.
    close: (): Promise<void> => worker.close(CLOSE_WAIT_MS),
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
