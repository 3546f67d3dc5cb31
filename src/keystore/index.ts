// Keystore updater: keeps the Elasticsearch keystore equal to a directory
// mounted from a Kubernetes Secret, and asks Elasticsearch to reload.
// (Interface agreed with main.ts; the implementation lives beside it.)

import type { KeystoreConfig } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';

export interface KeystoreStatus {
  readonly state: string;
  readonly [field: string]: unknown;
}

export interface KeystoreUpdater {
  /** Resolves once the first sync has finished or failed (failure is in status()). */
  firstSync(): Promise<void>;
  status(): KeystoreStatus;
  close(): Promise<void>;
}

export interface KeystoreDeps {
  readonly log: Logger;
  /** Reloads wait while this is false. */
  readonly isProcessStarted: () => boolean;
}

/** undefined when the updater is disabled (KEYSTORE_UPDATER=false, or auto and no SOURCE_DIR). */
export async function createKeystoreUpdater(_config: KeystoreConfig, _deps: KeystoreDeps): Promise<KeystoreUpdater | undefined> {
  return undefined;
}
