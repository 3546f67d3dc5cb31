// Keystore updater: keeps the Elasticsearch keystore equal to a directory
// mounted from a Kubernetes Secret, and asks Elasticsearch to reload.
// This file only wires the parts:
//   source-watcher  watch-mounted-directory + backstop poll (change-detector) -> "look again"
//   sync-loop       scan-source -> diff -> apply-diff (keystore-cli) -> applied-record
//   reload-loop     reload-client (undici, ca-bundle) with back-off
//   status          what /keystore/status and /health show
// The parts are in updater.ts, their side effects in system.ts (the real ones
// are made here; tests hand in their own), both loaded only once the API
// listens: they require node:crypto and node:child_process, which /health does
// not need (issue 20); until then the status is not-started.ts's.

import fs from 'node:fs/promises';
import type { KeystoreConfig } from '../config/config.ts';
import { StartupError } from '../config/errors.ts';
import { EXIT } from '../config/options.ts';
import { errnoCode } from '../files/errno.ts';
import { monotonicMs } from '../clock/clock.ts';
import { NOT_STARTED_METRICS, notStartedStatus } from './not-started.ts';
import type { KeystoreDeps, KeystoreUpdater } from './updater-interface.ts';

export type { KeystoreCounters, KeystoreMetrics, KeystoreStatus } from './status.ts';
export type { KeystoreDeps, KeystoreUpdater } from './updater-interface.ts';

/** The updater as main holds it from before the API listens: whether it is on is known, its parts run from start(). */
export interface PreparedKeystoreUpdater extends KeystoreUpdater {
  /** Loads and starts the parts (leftover copies swept, record read, SOURCE_DIR watched, first sync); once. */
  start(): void;
}

/** undefined when the updater is disabled (KEYSTORE_UPDATER=false, or auto and no SOURCE_DIR). */
export async function createKeystoreUpdater(
  config: KeystoreConfig,
  deps: KeystoreDeps,
): Promise<PreparedKeystoreUpdater | undefined> {
  const { log } = deps;
  if (config.mode === 'false') return undefined;
  if (config.mode === 'auto' && !(await exists(config.sourceDir))) {
    log.info(`keystore updater off: SOURCE_DIR ${config.sourceDir} does not exist (KEYSTORE_UPDATER=auto)`, {
      'event.action': 'keystore-start',
    });
    return undefined;
  }

  return prepare(config, deps);
}

function prepare(config: KeystoreConfig, deps: KeystoreDeps): PreparedKeystoreUpdater {
  const awaitedSince = monotonicMs();
  let updater: KeystoreUpdater | undefined;
  let failure: string | undefined;
  let starting: Promise<KeystoreUpdater> | undefined;
  const start = (): Promise<KeystoreUpdater> =>
    (starting ??= Promise.all([import('./updater.ts'), import('./system.ts')])
      .then(([{ startKeystoreUpdater }, { nodeKeystoreSystem }]) =>
        startKeystoreUpdater(config, deps, nodeKeystoreSystem(config, deps.log)),
      )
      .then(
        (started) => (updater = started),
        (error: Error) => {
          // Before issue 20 this failed the manager's start (70): it still does, through the boot.
          failure = `the keystore updater could not start: ${error.message}`;
          deps.log.error(`${failure}\n${error.stack ?? ''}`, { 'event.action': 'keystore-start' });
          throw error instanceof StartupError ? error : new StartupError(failure, EXIT.INTERNAL);
        },
      ));
  return {
    start: () => void start().catch(() => {}),
    firstSync: () => start().then((started) => started.firstSync()),
    status: () => updater?.status() ?? notStartedStatus(config, monotonicMs() - awaitedSince, failure),
    metrics: () => updater?.metrics() ?? NOT_STARTED_METRICS,
    close: async () => (await starting?.catch(() => undefined))?.close(),
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
