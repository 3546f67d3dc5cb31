// Every side effect of the keystore updater that a test may want to replace:
// the elasticsearch-keystore runner, the reload client, the watch on
// SOURCE_DIR, the file steps a crash may fall between, and time. The real
// ones are wired here and nowhere else (index.ts asks for them); tests hand
// the updater their own, to shorten a deadline or to stop dead at one step
// and start a fresh updater on the same files, as a SIGKILL there would.
// Loaded with updater.ts only: it brings node:child_process and node:crypto.

import { type Clock, systemClock } from '../clock/clock.ts';
import type { KeystoreConfig } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { type AppliedRecord, type LoadedRecord, loadRecord, saveRecord } from './applied-record.ts';
import { type CliRunner, createCliRunner } from './keystore-cli.ts';
import { openWorkspace, sweepWorkspaces, type Workspace } from './keystore-swap.ts';
import { createReloadClient, type ReloadClient } from './reload-client.ts';
import { watchSource } from './source-watcher.ts';

/** The steps whose order makes a sync safe to kill anywhere (applied-record, keystore-swap). */
export interface KeystoreFiles {
  loadRecord(file: string): Promise<LoadedRecord>;
  /** Atomic: the record is the old one or the new one, never half of either. */
  saveRecord(file: string, record: AppliedRecord): Promise<void>;
  /** A private copy of the keystore for the CLI to change; its commit() is the swap into place. */
  openWorkspace(
    keystorePath: string,
    expectedSha256: string | null,
  ): Promise<Workspace | { readonly conflict: string }>;
  /** Removes the copies a killed manager left. */
  sweepWorkspaces(keystorePath: string): Promise<void>;
}

export interface KeystoreSystem {
  readonly runCli: CliRunner;
  /** Used only when RELOAD is on; it loads undici on its first call. */
  readonly reloadClient: ReloadClient;
  readonly watchSource: typeof watchSource;
  readonly files: KeystoreFiles;
  readonly clock: Clock;
}

export const nodeKeystoreFiles: KeystoreFiles = { loadRecord, saveRecord, openWorkspace, sweepWorkspaces };

export function nodeKeystoreSystem(config: KeystoreConfig, log: Logger): KeystoreSystem {
  return {
    runCli: createCliRunner(config.binary, log),
    reloadClient: createReloadClient(config),
    watchSource,
    files: nodeKeystoreFiles,
    clock: systemClock,
  };
}
