// When the keystore updater needs a person, in the words GET /health shows.

import type { KeystoreStatus } from './status.ts';

/** A sync runs a handful of elasticsearch-keystore calls of at most 120 s each; longer is stuck. */
export const KEYSTORE_SYNC_LIMIT_MS = 5 * 60_000;

export function keystoreHealthReasons(status: KeystoreStatus): string[] {
  if (status.state === 'failed') return [`the keystore updater failed: ${status.reason}`];
  // syncingForMs is on the monotonic clock: a wall-clock jump (an NTP step) must not make a sync look stuck.
  if (status.state !== 'syncing' || status.syncingForMs === null || status.syncingForMs <= KEYSTORE_SYNC_LIMIT_MS)
    return [];
  return [`a keystore sync has run for ${Math.round(status.syncingForMs / 1000)} s (stuck?)`];
}
