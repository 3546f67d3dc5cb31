// The updater's status as /keystore/status and /health show it: one state
// and a reason a human can act on, derived from what the sync and reload
// loops know. Setting names only, never values.

import type { IgnoredEntry } from './scan-source.ts';

export type KeystoreState = 'syncing' | 'synced' | 'reloading' | 'reloaded' | 'waiting' | 'failed';

export interface SyncFacts {
  readonly isSyncing: boolean;
  /** Wall-clock start of the pass in flight (a rescan, or a write), or null: a stuck sync shows here. */
  readonly syncingSince: string | null;
  /** How long that pass has run (before the first pass begins: how long it has been awaited), on the monotonic clock (a wall-clock jump does not make it stuck), or null. */
  readonly syncingForMs: number | null;
  /** What the running sync writes, e.g. "add a, change b, remove c". */
  readonly syncingWhat: string | null;
  readonly error: string | null;
  readonly consecutiveFailures: number;
  readonly nextRetryAt: string | null;
  readonly settings: readonly string[];
  readonly ignored: readonly IgnoredEntry[];
  readonly revision: string | null;
  readonly lastScanAt: string | null;
  readonly lastSyncAt: string | null;
  readonly lastChangeAt: string | null;
  readonly cliSupportsMultiPair: boolean | null;
  readonly scans: number;
  readonly syncs: number;
  readonly syncFailures: number;
  readonly cliCalls: number;
}

export interface ReloadFacts {
  readonly isReloading: boolean;
  readonly isPending: boolean;
  readonly isWaitingForProcess: boolean;
  readonly error: { readonly kind: string; readonly reason: string; readonly isTransient: boolean } | null;
  readonly consecutiveFailures: number;
  readonly nextRetryAt: string | null;
  readonly lastReloadAt: string | null;
  readonly reloads: number;
  readonly reloadFailures: number;
}

/** The keystore's counters, in /keystore/status and (with lastSyncAt) in /metrics. */
export interface KeystoreCounters {
  readonly scans: number;
  /** Updates written to the keystore. */
  readonly syncs: number;
  readonly syncFailures: number;
  readonly cliCalls: number;
  readonly reloads: number;
  readonly reloadFailures: number;
}

export interface KeystoreStatus {
  readonly state: KeystoreState;
  readonly reason: string;
  readonly syncingSince: string | null;
  readonly syncingForMs: number | null;
  readonly settings: readonly string[];
  readonly ignored: readonly IgnoredEntry[];
  readonly secretRevision: string | null;
  readonly sourceDir: string;
  readonly keystorePath: string;
  readonly lastScanAt: string | null;
  /** Last time the keystore was confirmed equal to SOURCE_DIR (each rescan, the 30 s poll included), or null. */
  readonly lastSyncAt: string | null;
  readonly lastChangeAt: string | null;
  readonly lastReloadAt: string | null;
  readonly consecutiveFailures: number;
  readonly nextRetryAt: string | null;
  readonly reload: {
    readonly enabled: boolean;
    readonly pending: boolean;
    readonly failure: string | null;
    readonly consecutiveFailures: number;
  };
  readonly cliSupportsMultiPair: boolean | null;
  readonly counters: KeystoreCounters;
}

/** What /metrics shows of the keystore: some of the counters, and when it last matched SOURCE_DIR. */
export type KeystoreMetrics = Pick<KeystoreCounters, 'syncs' | 'syncFailures' | 'reloads' | 'reloadFailures'> &
  Pick<KeystoreStatus, 'lastSyncAt'>;

export function describeStatus(
  sync: SyncFacts,
  reload: ReloadFacts | undefined,
  paths: { sourceDir: string; keystorePath: string },
): KeystoreStatus {
  const { state, reason } = deriveState(sync, reload);
  return {
    state,
    reason,
    syncingSince: sync.syncingSince,
    syncingForMs: sync.syncingForMs,
    settings: sync.settings,
    ignored: sync.ignored,
    secretRevision: sync.revision,
    sourceDir: paths.sourceDir,
    keystorePath: paths.keystorePath,
    lastScanAt: sync.lastScanAt,
    lastSyncAt: sync.lastSyncAt,
    lastChangeAt: sync.lastChangeAt,
    lastReloadAt: reload?.lastReloadAt ?? null,
    consecutiveFailures: sync.error !== null ? sync.consecutiveFailures : (reload?.consecutiveFailures ?? 0),
    nextRetryAt: sync.error !== null ? sync.nextRetryAt : (reload?.nextRetryAt ?? null),
    reload: reload
      ? {
          enabled: true,
          pending: reload.isPending,
          failure: reload.error?.kind ?? null,
          consecutiveFailures: reload.consecutiveFailures,
        }
      : { enabled: false, pending: false, failure: null, consecutiveFailures: 0 },
    cliSupportsMultiPair: sync.cliSupportsMultiPair,
    counters: {
      scans: sync.scans,
      syncs: sync.syncs,
      syncFailures: sync.syncFailures,
      cliCalls: sync.cliCalls,
      reloads: reload?.reloads ?? 0,
      reloadFailures: reload?.reloadFailures ?? 0,
    },
  };
}

function deriveState(sync: SyncFacts, reload: ReloadFacts | undefined): { state: KeystoreState; reason: string } {
  // A retry in flight does not hide the failure: a CLI stuck again would otherwise read as "syncing" for its whole deadline.
  if (sync.error !== null) {
    const next =
      sync.syncingSince !== null ? `; retrying now (since ${sync.syncingSince})` : retrying(sync.nextRetryAt);
    return { state: 'failed', reason: `${sync.error}${next}` };
  }
  if (sync.isSyncing)
    return {
      state: 'syncing',
      reason: sync.syncingWhat ? `updating the keystore: ${sync.syncingWhat}` : 'reading SOURCE_DIR',
    };
  if (reload) {
    if (reload.isReloading) return { state: 'reloading', reason: 'asking Elasticsearch to reload secure settings' };
    if (reload.isPending && reload.isWaitingForProcess)
      return {
        state: 'waiting',
        reason: 'keystore updated; waiting for the process to start before reloading secure settings',
      };
    if (reload.isPending && reload.error) {
      return {
        state: reload.error.isTransient ? 'waiting' : 'failed',
        reason: `reloading secure settings failed: ${reload.error.reason}${retrying(reload.nextRetryAt)}`,
      };
    }
    if (reload.isPending) return { state: 'reloading', reason: 'keystore updated; reloading secure settings' };
    if (reload.lastReloadAt !== null)
      return {
        state: 'reloaded',
        reason: `keystore matches SOURCE_DIR${describeHeld(sync.ignored)} and Elasticsearch reloaded it`,
      };
  }
  return { state: 'synced', reason: `keystore matches SOURCE_DIR${describeHeld(sync.ignored)}` };
}

/** Entries refused or unreadable are left as they were: say so, since the keystore may not match them. */
function describeHeld(ignored: readonly IgnoredEntry[]): string {
  const held = ignored.filter((entry) => entry.isHeld).map((entry) => entry.name);
  return held.length === 0 ? '' : ` except ${held.join(', ')} (refused or unreadable, left as they were; see ignored)`;
}

function retrying(at: string | null): string {
  return at ? `; retrying at ${at}` : '';
}
