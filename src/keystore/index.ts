// Keystore updater: keeps the Elasticsearch keystore equal to a directory
// mounted from a Kubernetes Secret, and asks Elasticsearch to reload.
// This file only wires the parts:
//   source-watcher  watch-mounted-directory + backstop poll (change-detector) -> "look again"
//   sync-loop       scan-source -> diff -> apply-diff (keystore-cli) -> applied-record
//   reload-loop     reload-client (undici, ca-bundle) with back-off
//   status          what /keystore/status and /health show
// The parts are in updater.ts, loaded only once the updater is wanted: they
// require node:crypto and node:child_process, which a manager whose updater
// is off never needs to load (issue 20).

import fs from 'node:fs/promises';
import type { KeystoreConfig } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { errnoCode } from '../files/errno.ts';
import type { KeystoreMetrics, KeystoreStatus } from './status.ts';

export type { KeystoreCounters, KeystoreMetrics, KeystoreStatus } from './status.ts';

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

/** undefined when the updater is disabled (KEYSTORE_UPDATER=false, or auto and no SOURCE_DIR). */
export async function createKeystoreUpdater(
  config: KeystoreConfig,
  deps: KeystoreDeps,
): Promise<KeystoreUpdater | undefined> {
  const { log } = deps;
  if (config.mode === 'false') return undefined;
  if (config.mode === 'auto' && !(await exists(config.sourceDir))) {
    log.info(`keystore updater off: SOURCE_DIR ${config.sourceDir} does not exist (KEYSTORE_UPDATER=auto)`, {
      'event.action': 'keystore-start',
    });
    return undefined;
  }

  return (await import('./updater.ts')).startKeystoreUpdater(config, deps);
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch (error) {
    // Expected: ENOENT. Anything else (EACCES) counts as present and surfaces in the status.
    return errnoCode(error) !== 'ENOENT';
  }
}
