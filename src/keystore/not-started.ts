// What the updater shows between the API's listen() and the moment its parts
// run (index.ts starts them then): the status of an updater whose first pass
// has not begun, so /health reads `syncing` (not yet synced) rather than no
// updater at all; or, if they could not start, `failed` with why.

import type { KeystoreConfig } from '../config/config.ts';
import { describeStatus, type KeystoreMetrics, type KeystoreStatus, type SyncFacts } from './status.ts';

/** `awaitedForMs`: since when the first pass has been awaited, as the sync loop counts it once it runs. */
export function notStartedStatus(config: KeystoreConfig, awaitedForMs: number, failure?: string): KeystoreStatus {
  const sync: SyncFacts = {
    isSyncing: failure === undefined,
    syncingSince: null,
    syncingForMs: failure === undefined ? Math.round(awaitedForMs) : null,
    syncingWhat: null,
    error: failure ?? null,
    consecutiveFailures: failure === undefined ? 0 : 1,
    nextRetryAt: null,
    settings: [],
    ignored: [],
    revision: null,
    lastScanAt: null,
    lastSyncAt: null,
    lastChangeAt: null,
    cliSupportsMultiPair: null,
    scans: 0,
    syncs: 0,
    syncFailures: 0,
    cliCalls: 0,
  };
  const reload = config.reload
    ? {
        isReloading: false,
        isPending: false,
        isWaitingForProcess: false,
        error: null,
        consecutiveFailures: 0,
        nextRetryAt: null,
        lastReloadAt: null,
        reloads: 0,
        reloadFailures: 0,
      }
    : undefined;
  return describeStatus(sync, reload, { sourceDir: config.sourceDir, keystorePath: config.keystorePath });
}

export const NOT_STARTED_METRICS: KeystoreMetrics = {
  syncs: 0,
  syncFailures: 0,
  reloads: 0,
  reloadFailures: 0,
  lastSyncAt: null,
};
