// The keystore updater's parts, wired (index.ts says what each does); loaded by index.ts once the updater is wanted.

import type { KeystoreConfig } from '../config/config.ts';
import { digester, recordPathFor } from './applied-record.ts';
import { createApplier } from './apply-diff.ts';
import { workspaceRoot } from './keystore-swap.ts';
import { createReloadLoop } from './reload-loop.ts';
import { readSecret } from '../files/secrets.ts';
import { createChangeDetector } from './change-detector.ts';
import type { SourceWatcher } from './source-watcher.ts';
import type { KeystoreSystem } from './system.ts';
import { describeStatus } from './status.ts';
import { createSyncLoop } from './sync-loop.ts';
import type { KeystoreDeps, KeystoreUpdater } from './updater-interface.ts';

export async function startKeystoreUpdater(
  config: KeystoreConfig,
  deps: KeystoreDeps,
  system: KeystoreSystem,
): Promise<KeystoreUpdater> {
  const { log } = deps;
  const { files, clock } = system;
  // Copies a manager killed mid-pass left behind: never put in place, and the keystore is as that pass found it.
  await files.sweepWorkspaces(config.keystorePath).catch((error: Error) =>
    log.warn(`cannot remove leftover keystore copies in ${workspaceRoot(config.keystorePath)}: ${error.message}`, {
      'event.action': 'keystore-start',
    }),
  );
  const recordFile = recordPathFor(config.keystorePath);
  const loaded = await files.loadRecord(recordFile);
  if (loaded.problem)
    log.warn(`${loaded.problem}; settings not in SOURCE_DIR will be left alone`, { 'event.action': 'keystore-start' });
  const keystorePassword = () =>
    readSecret(config.keystorePassword, config.keystorePasswordFile, 'KEYSTORE_PASSWORD_FILE');
  const passwordAtStart = await keystorePassword();

  const reloadLoop = config.reload
    ? createReloadLoop({
        client: system.reloadClient,
        log,
        clock,
        isProcessStarted: deps.isProcessStarted,
        keystorePassword,
      })
    : undefined;
  const watcher: { current?: SourceWatcher } = {};
  const changes = createChangeDetector(config.sourceDir, config.keystorePath);
  const syncLoop = createSyncLoop({
    config,
    log,
    files,
    clock,
    applier: createApplier(system.runCli, log),
    record: loaded.record,
    recordFile,
    digest: digester(loaded.record.salt, passwordAtStart.ok ? (passwordAtStart.value ?? '') : ''),
    beforeScan: () => changes.passStarting(),
    onScanned: () => void watcher.current?.retarget(),
    afterPass: () => void changes.passEnded(),
    onKeystoreChanged: (isBootSync) => {
      // Before its first start the process reads the keystore as we left it: nothing to reload.
      if (isBootSync && !deps.isProcessStarted()) return;
      reloadLoop?.request();
    },
  });
  watcher.current = system.watchSource(
    config.sourceDir,
    (why) => syncLoop.request(why),
    () => changes.hasChanged(),
    log,
    undefined,
    {
      path: config.keystorePath,
      hasChanged: () => changes.keystoreChanged(),
    },
  );
  const firstSync = watcher.current.ready.then(() => syncLoop.start());

  log.info(
    `keystore updater watching ${config.sourceDir} for ${config.keystorePath}${config.reload ? `, reloading through ${config.endpoint}` : ''}`,
    {
      'event.action': 'keystore-start',
      'file.directory': config.sourceDir,
      'file.path': config.keystorePath,
    },
  );
  return {
    firstSync: () => firstSync,
    status: () =>
      describeStatus(syncLoop.facts(), reloadLoop?.facts(), {
        sourceDir: config.sourceDir,
        keystorePath: config.keystorePath,
      }),
    metrics: () => {
      const sync = syncLoop.facts();
      const reload = reloadLoop?.facts();
      return {
        syncs: sync.syncs,
        syncFailures: sync.syncFailures,
        reloads: reload?.reloads ?? 0,
        reloadFailures: reload?.reloadFailures ?? 0,
        lastSyncAt: sync.lastSyncAt,
      };
    },
    async close() {
      await watcher.current?.close();
      await syncLoop.close();
      await reloadLoop?.close();
    },
  };
}
