// Tells the updater when to look at SOURCE_DIR again. Events carry no meaning
// beyond "something moved": around a `..data` swap, watchers miss real changes
// and invent others (notes §4), so every chokidar event, raw inotify ones
// included, only marks the directory dirty. Bursts are debounced into one
// rescan; a slow backstop poll covers anything a watcher never reports, and
// asks for a rescan only when change-detector.ts saw something change.

import { watch, type FSWatcher } from 'chokidar';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.ts';

/** Quiet time that ends a burst; a Secret update is a handful of events within milliseconds. */
const DEBOUNCE_MS = 100;
/** A never-ending trickle of events still gets a rescan this often. */
const LONGEST_DEBOUNCE_MS = 1_000;
/** No more often: an idle manager must cost no CPU. */
const BACKSTOP_POLL_MS = 30_000;
const READY_TIMEOUT_MS = 5_000;

export interface SourceWatcher {
  /** Resolves once the watch is in place (or could not be set up), so no change slips in before the first scan. */
  readonly ready: Promise<void>;
  /** Call after each scan: watches SOURCE_DIR once it exists, its parent while it does not. */
  retarget(): Promise<void>;
  close(): Promise<void>;
}

/** `hasChanged` is asked at every backstop tick; a rescan follows only a yes (or an error). */
export function watchSource(dir: string, onDirty: (why: string) => void, hasChanged: () => Promise<boolean>, log: Logger, pollMs = BACKSTOP_POLL_MS): SourceWatcher {
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
  const poll = async (): Promise<void> => {
    if (await hasChanged().catch(() => true)) fire('backstop poll');
  };
  const backstop = setInterval(() => void poll(), pollMs);
  backstop.unref?.();

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
    const created = watch(next, { depth: 0, followSymlinks: false, ignoreInitial: true, atomic: false, persistent: true, ignored });
    watcher = created;
    created.on('all', (event, file) => markDirty(`${event} ${path.basename(file)}`));
    // In the parent, only SOURCE_DIR's own entry matters: our log file or state file may live there too.
    created.on('raw', (event, file) => {
      if (next === dir || path.basename(String(file)) === path.basename(dir)) markDirty(`raw ${String(event)}`);
    });
    created.on('error', (error) => {
      log.warn(`watching ${next} failed: ${(error as Error).message}; the ${BACKSTOP_POLL_MS / 1000} s poll still runs`, { 'event.action': 'keystore-watch' });
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
    if (next !== dir) log.info(`SOURCE_DIR ${dir} does not exist; watching ${next ?? 'nothing'} until it appears`, { 'event.action': 'keystore-watch' });
    await startWatching(next, inode);
  };
  // One retarget at a time: the first scan and a later event may both ask.
  const retarget = (): Promise<void> => (retargeting = retargeting.then(retargetNow, retargetNow));

  return {
    ready: retarget().catch((error: Error) => {
      log.warn(`cannot watch ${dir}: ${error.message}; relying on the ${BACKSTOP_POLL_MS / 1000} s poll`, { 'event.action': 'keystore-watch' });
    }),
    retarget,
    async close() {
      closed = true;
      clearInterval(backstop);
      clearTimeout(debounce);
      await watcher?.close();
      watcher = undefined;
    },
  };
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
