// Tells the updater when to look at SOURCE_DIR again. Events carry no meaning
// beyond "something moved": around a `..data` swap, watchers miss real changes
// and invent others (notes §4), so every chokidar event, raw inotify ones
// included, only marks the directory dirty. Bursts are debounced into one
// rescan; a rare backstop poll covers anything a watcher never reports, and
// asks for a rescan only when change-detector.ts saw something change.
// The keystore is watched too (inotify on its directory, for its name only):
// an event there compares the keystore's stat signature with its baseline,
// quiet during and after our own passes (the baseline is taken as each ends),
// and asks for a rescan for a keystore deleted or edited behind our back. With both watched, the poll is
// needed only for what inotify cannot see (a watched directory replaced, a
// lost event), so it runs every 10 minutes: an idle manager with the updater
// on wakes for nothing in between (issue 20; every 30 s it cost 12.5 ms of
// CPU a minute).

import { watch, type FSWatcher } from 'chokidar';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.ts';

/** Quiet time that ends a burst; a Secret update is a handful of events within milliseconds. */
const DEBOUNCE_MS = 100;
/** A never-ending trickle of events still gets a rescan this often. */
const LONGEST_DEBOUNCE_MS = 1_000;
/** No more often: an idle manager must cost no CPU. */
const BACKSTOP_POLL_MS = 600_000;
const READY_TIMEOUT_MS = 5_000;
/**
 * The keystore is checked once its writes pause this long, and at least this often while they never do: another
 * writer saving in a loop (a tool, an operator's script) gets a repair pass every few seconds, not one per save,
 * each of which would collide with its next save.
 */
const KEYSTORE_QUIET_MS = 1_000;
const KEYSTORE_LONGEST_QUIET_MS = 10_000;

export interface SourceWatcher {
  /** Resolves once the watch is in place (or could not be set up), so no change slips in before the first scan. */
  readonly ready: Promise<void>;
  /** Call after each scan: watches SOURCE_DIR once it exists, its parent while it does not. */
  retarget(): Promise<void>;
  close(): Promise<void>;
}

/** `hasChanged` is asked at every backstop tick; a rescan follows only a yes (or an error). */
export function watchSource(
  dir: string,
  onDirty: (why: string) => void,
  hasChanged: () => Promise<boolean>,
  log: Logger,
  pollMs = BACKSTOP_POLL_MS,
  keystore?: { readonly path: string; readonly hasChanged: () => Promise<boolean> },
): SourceWatcher {
  let watcher: FSWatcher | undefined;
  let target: string | undefined;
  /** Inode of the watched directory: one deleted and made again needs a new watch. */
  let targetInode: number | undefined;
  let retargeting: Promise<void> = Promise.resolve();
  let closed = false;
  let debounce: ReturnType<typeof setTimeout> | undefined;
  let burstStartedAt: number | null = null;

  const fire = (why: string): void => {
    clearTimeout(debounce);
    debounce = undefined;
    burstStartedAt = null;
    if (!closed) onDirty(why);
  };
  const markDirty = (why: string): void => {
    const now = performance.now();
    burstStartedAt ??= now;
    clearTimeout(debounce);
    const wait = Math.max(0, Math.min(DEBOUNCE_MS, burstStartedAt + LONGEST_DEBOUNCE_MS - now));
    debounce = setTimeout(() => fire(why), wait);
  };
  const poll = async (why = 'backstop poll'): Promise<void> => {
    if (await hasChanged().catch(() => true)) fire(why);
  };
  const backstop = setInterval(() => void poll(), pollMs);
  backstop.unref?.();
  const keystoreWatch =
    keystore &&
    watchKeystore(
      keystore.path,
      () =>
        void keystore.hasChanged().then(
          (changed) => changed && fire('keystore changed'),
          () => fire('keystore check failed'),
        ),
      log,
    );

  const startWatching = async (next: string | undefined, inode: number | undefined): Promise<void> => {
    const previous = watcher;
    watcher = undefined;
    target = next;
    targetInode = inode;
    await previous?.close();
    if (next === undefined || closed) return;
    // depth 0 and no symlink following: the `..<timestamp>` directories and link targets
    // are not ours to walk; the swap shows up as events on SOURCE_DIR itself.
    // While SOURCE_DIR is missing its parent is watched, for SOURCE_DIR only: no watch on each sibling.
    const ignored = next === dir ? undefined : (file: string) => file !== next && file !== dir;
    const created = watch(next, {
      depth: 0,
      followSymlinks: false,
      ignoreInitial: true,
      atomic: false,
      persistent: true,
      ignored,
    });
    watcher = created;
    created.on('all', (event, file) => markDirty(`${event} ${path.basename(file)}`));
    // In the parent, only SOURCE_DIR's own entry matters: our log file or state file may live there too.
    created.on('raw', (event, file) => {
      if (next === dir || path.basename(String(file)) === path.basename(dir)) markDirty(`raw ${String(event)}`);
    });
    created.on('error', (error) => {
      log.warn(`watching ${next} failed: ${(error as Error).message}; the ${pollMs / 1000} s poll still runs`, {
        'event.action': 'keystore-watch',
      });
      markDirty('watch error');
    });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, READY_TIMEOUT_MS);
      created.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  };

  const retargetNow = async (): Promise<void> => {
    if (closed) return;
    const dirInode = await inodeOf(dir);
    const parentInode = dirInode === undefined ? await inodeOf(path.dirname(dir)) : undefined;
    const next = dirInode !== undefined ? dir : parentInode !== undefined ? path.dirname(dir) : undefined;
    const inode = dirInode ?? parentInode;
    if (next === target && inode === targetInode && (next === undefined || watcher !== undefined)) return;
    if (next !== dir)
      log.info(`SOURCE_DIR ${dir} does not exist; watching ${next ?? 'nothing'} until it appears`, {
        'event.action': 'keystore-watch',
      });
    await startWatching(next, inode);
  };
  // One retarget at a time: the first scan and a later event may both ask.
  const retarget = (): Promise<void> => (retargeting = retargeting.then(retargetNow, retargetNow));

  return {
    ready: retarget().catch((error: Error) => {
      log.warn(`cannot watch ${dir}: ${error.message}; relying on the ${pollMs / 1000} s poll`, {
        'event.action': 'keystore-watch',
      });
    }),
    retarget,
    async close() {
      closed = true;
      clearInterval(backstop);
      clearTimeout(debounce);
      keystoreWatch?.close();
      await watcher?.close();
      watcher = undefined;
    },
  };
}

/**
 * inotify on the keystore's directory, for the keystore's name (a rename onto it, a deletion, a write): `onEvent`
 * after each burst. Node's own fs.watch, not chokidar: one watch, no scan of the directory. A directory that cannot
 * be watched (missing at start) leaves the backstop poll to notice.
 */
function watchKeystore(keystorePath: string, onEvent: () => void, log: Logger): { close(): void } | undefined {
  const name = path.basename(keystorePath);
  let debounce: ReturnType<typeof setTimeout> | undefined;
  let burstStartedAt: number | null = null;
  const check = (): void => {
    burstStartedAt = null;
    onEvent();
  };
  try {
    const watcher = fsSync.watch(path.dirname(keystorePath), { persistent: false }, (_event, file) => {
      if (file !== null && String(file) !== name) return;
      const now = performance.now();
      burstStartedAt ??= now;
      clearTimeout(debounce);
      debounce = setTimeout(
        check,
        Math.max(0, Math.min(KEYSTORE_QUIET_MS, burstStartedAt + KEYSTORE_LONGEST_QUIET_MS - now)),
      );
    });
    watcher.on('error', (error) =>
      log.warn(`watching the keystore ${keystorePath} failed: ${error.message}; the backstop poll still runs`, {
        'event.action': 'keystore-watch',
      }),
    );
    return {
      close: () => {
        clearTimeout(debounce);
        watcher.close();
      },
    };
  } catch (error) {
    log.warn(`cannot watch the keystore ${keystorePath}: ${(error as Error).message}; relying on the backstop poll`, {
      'event.action': 'keystore-watch',
    });
    return undefined;
  }
}

/** The directory's inode, or undefined when there is no directory there (any error: just not watchable). */
async function inodeOf(file: string): Promise<number | undefined> {
  try {
    const stats = await fs.stat(file);
    return stats.isDirectory() ? stats.ino : undefined;
  } catch {
    return undefined;
  }
}
