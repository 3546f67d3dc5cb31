// Keystore updater: keeps the Elasticsearch keystore equal to a directory
// mounted from a Kubernetes Secret, and asks Elasticsearch to reload.
// This file only wires the parts:
//   source-watcher  chokidar + backstop poll (change-detector) -> "look again"
//   sync-loop       scan-source -> diff -> apply-diff (keystore-cli) -> applied-record
//   reload-loop     reload-client (undici, ca-bundle) with back-off
//   status          what /keystore/status and /health show

import fs from 'node:fs/promises';
import type { KeystoreConfig } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { digester, loadRecord, recordPathFor } from './applied-record.ts';
import { createApplier } from './apply-diff.ts';
import { createCliRunner } from './keystore-cli.ts';
import { sweepWorkspaces, workspaceRoot } from './keystore-swap.ts';
import { createReloadClient } from './reload-client.ts';
import { createReloadLoop } from './reload-loop.ts';
import { readSecret } from '../files/secrets.ts';
import { createChangeDetector } from './change-detector.ts';
import { watchSource, type SourceWatcher } from './source-watcher.ts';
import { describeStatus, type KeystoreMetrics, type KeystoreStatus } from './status.ts';
import { createSyncLoop } from './sync-loop.ts';
import { errnoCode } from '../files/errno.ts';

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
export async function createKeystoreUpdater(config: KeystoreConfig, deps: KeystoreDeps): Promise<KeystoreUpdater | undefined> {
  const { log } = deps;
  if (config.mode === 'false') return undefined;
  if (config.mode === 'auto' && !(await exists(config.sourceDir))) {
    log.info(`keystore updater off: SOURCE_DIR ${config.sourceDir} does not exist (KEYSTORE_UPDATER=auto)`, { 'event.action': 'keystore-start' });
    return undefined;
  }

  // Copies a manager killed mid-pass left behind: never put in place, and the keystore is as that pass found it.
  await sweepWorkspaces(config.keystorePath).catch((error: Error) =>
    log.warn(`cannot remove leftover keystore copies in ${workspaceRoot(config.keystorePath)}: ${error.message}`, { 'event.action': 'keystore-start' }),
  );
  const recordFile = recordPathFor(config.keystorePath);
  const loaded = await loadRecord(recordFile);
  if (loaded.problem) log.warn(`${loaded.problem}; settings not in SOURCE_DIR will be left alone`, { 'event.action': 'keystore-start' });
  const keystorePassword = () => readSecret(config.keystorePassword, config.keystorePasswordFile, 'KEYSTORE_PASSWORD_FILE');
  const passwordAtStart = await keystorePassword();

  const reloadLoop = config.reload
    ? createReloadLoop({ client: createReloadClient(config), log, isProcessStarted: deps.isProcessStarted, keystorePassword })
    : undefined;
  const watcher: { current?: SourceWatcher } = {};
  const changes = createChangeDetector(config.sourceDir, config.keystorePath);
  const syncLoop = createSyncLoop({
    config,
    log,
    applier: createApplier(createCliRunner(config.binary, log), log),
    record: loaded.record,
    recordFile,
    digest: digester(loaded.record.salt, passwordAtStart.ok ? (passwordAtStart.value ?? '') : ''),
    beforeScan: () => changes.passStarting(),
    onScanned: () => void watcher.current?.retarget(),
    afterPass: () => changes.passEnded(),
    onKeystoreChanged: (isBootSync) => {
      // Before its first start the process reads the keystore as we left it: nothing to reload.
      if (isBootSync && !deps.isProcessStarted()) return;
      reloadLoop?.request();
    },
  });
  watcher.current = watchSource(config.sourceDir, (why) => syncLoop.request(why), () => changes.hasChanged(), log);
  const firstSync = watcher.current.ready.then(() => syncLoop.start());

  log.info(`keystore updater watching ${config.sourceDir} for ${config.keystorePath}${config.reload ? `, reloading through ${config.endpoint}` : ''}`, {
    'event.action': 'keystore-start',
    'file.directory': config.sourceDir,
    'file.path': config.keystorePath,
  });
  return {
    firstSync: () => firstSync,
    status: () => describeStatus(syncLoop.facts(), reloadLoop?.facts(), { sourceDir: config.sourceDir, keystorePath: config.keystorePath }),
    metrics: () => {
      const sync = syncLoop.facts();
      const reload = reloadLoop?.facts();
      return { syncs: sync.syncs, syncFailures: sync.syncFailures, reloads: reload?.reloads ?? 0, reloadFailures: reload?.reloadFailures ?? 0, lastSyncAt: sync.lastSyncAt };
    },
    async close() {
      await watcher.current?.close();
      await syncLoop.close();
      await reloadLoop?.close();
    },
  };
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
