// The keystore updater as the rest of the manager sees it, and what it is handed; index.ts makes one, updater.ts
// wires its parts.

import type { Logger } from '../log/logger.ts';
import type { KeystoreMetrics, KeystoreStatus } from './status.ts';

export interface KeystoreUpdater {
  /** Resolves once the first sync has finished or failed (failure is in status()). */
  firstSync(): Promise<void>;
  status(): KeystoreStatus;
  metrics(): KeystoreMetrics;
  close(): Promise<void>;
}

export interface KeystoreDeps {
  readonly log: Logger;
  /** Reloads wait while this is false. It must stay false until firstSync() has resolved. */
  readonly isProcessStarted: () => boolean;
}
