// The checksum of --config-path, kept current for GET /NAME/status: computed
// at start, again when the paths change (watched, a Secret's `..data` swap
// included), and again before every conditional start (`start?config=SHA`),
// which never trusts a watcher that may be late.

import fs from 'node:fs';
import path from 'node:path';
import { type MountedDirectoryWatch, watchMountedDirectory } from '../files/watch-mounted-directory.ts';
import type { Logger } from '../log/logger.ts';
import { configChecksum, type ChecksumResult } from './checksum.ts';
import { trackRepeats } from '../log/repeats.ts';

export interface ConfigStatus {
  /** null: the paths could not be checksummed (problem() says why). */
  readonly sha256: string | null;
  /** When sha256 last took its value (the first computation included). */
  readonly changedAt: string | null;
}

export interface MountedConfig {
  status(): ConfigStatus;
  /** Computes again now; resolves once a computation begun after the call has ended. */
  refresh(): Promise<ConfigStatus>;
  /** Why sha256 is null, free of file paths; undefined while it is not. */
  problem(): string | undefined;
  close(): Promise<void>;
}

export async function createMountedConfig(paths: readonly string[], log: Logger): Promise<MountedConfig> {
  let current: ConfigStatus = { sha256: null, changedAt: null };
  let problem: string | undefined;
  let running: Promise<ConfigStatus> | null = null;
  let queued: Promise<ConfigStatus> | null = null;
  let closed = false;
  const problems = trackRepeats<string | undefined>();

  const apply = (result: ChecksumResult): ConfigStatus => {
    const sha256 = result.ok ? result.sha256 : null;
    const nextProblem = result.ok ? undefined : result.reason;
    if (sha256 !== current.sha256 || current.changedAt === null) {
      current = { sha256, changedAt: new Date().toISOString() };
      if (result.ok)
        log.info(`the mounted configuration is ${sha256} (${result.files} files)`, {
          'event.action': 'config-checksum',
        });
    }
    // Once per distinct problem, not at every event while it lasts.
    if (problems.isNew(result.ok ? undefined : result.detail) && !result.ok)
      log.warn(`the mounted configuration has no checksum: ${result.detail}`, { 'event.action': 'config-checksum' });
    problem = nextProblem;
    return current;
  };

  const compute = async (): Promise<ConfigStatus> => {
    try {
      return apply(await configChecksum(paths));
    } catch (error) {
      return apply({
        ok: false,
        reason: 'the checksum failed (see the manager log)',
        detail: (error as Error).message,
      });
    }
  };
  // One computation at a time; callers that arrive during one share the next.
  const refresh = (): Promise<ConfigStatus> => {
    if (queued) return queued;
    if (!running) {
      running = compute().finally(() => (running = null));
      return running;
    }
    const next = running.then(() => {
      queued = null;
      running = compute().finally(() => (running = null));
      return running;
    });
    queued = next;
    return next;
  };

  await refresh();
  const watches = paths.map((configured) => watchPath(configured, () => void (closed || refresh()), log));
  await Promise.all(watches.map((watch) => watch.ready));

  return {
    status: () => current,
    refresh,
    problem: () => problem,
    async close() {
      closed = true;
      for (const watch of watches) watch.close();
    },
  };
}

/**
 * A directory is watched whole (its subdirectories too), without following symlinks: a Secret's swap is a rename of
 * `..data` in it. A file (often a symlink into `..data`) is watched through its directory, one level deep; a path not
 * there yet through the nearest directory that is, until it appears.
 */
function watchPath(configured: string, changed: () => void, log: Logger): MountedDirectoryWatch {
  const isDirectory = fs.statSync(configured, { throwIfNoEntry: false })?.isDirectory() ?? false;
  return watchMountedDirectory(isDirectory ? configured : path.dirname(configured), changed, {
    recursive: isDirectory,
    onWatchError: (error) =>
      log.warn(`watching ${configured} failed: ${error.message}`, { 'event.action': 'config-checksum' }),
  });
}
