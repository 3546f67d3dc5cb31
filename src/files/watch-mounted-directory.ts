// Tells its caller when to look at a directory mounted from a Kubernetes
// Secret or ConfigMap again. An event is only a reason to look: the kubelet's
// atomic writer swaps a `..data` symlink, so an entry's content changes without
// any event naming it, and around the swap events are missed, doubled or
// arrive mid-way (notes §4). So every event only marks the directory dirty; a
// burst ends in one callback, after the watch has followed the directory
// (created late, deleted, made again), and a rare backstop check covers what
// inotify never reports.
//
// chokidar (no polling, one fs.watch per directory) keeps the watches: the
// subdirectories of a recursive watch as they come and go, up to a depth,
// symlinks and `..` directories not descended into, and a ready event once
// they are in place. Regular files get no watch of their own (their
// directory's watch reports them), so its `raw` events, not only `all`, mark
// the burst. What it does not follow, this module does: the watched directory
// itself deleted and made again (chokidar's watch stays on the old inode, and
// its one fs.watch per path is shared by every watcher of that path), a
// directory that does not exist yet (chokidar watches the parent only when the
// parent exists, and says ready before that watch is in place), and one named
// through a symlink (chokidar would watch the symlink's parent). So chokidar is
// handed the directory's real path, or that of its nearest existing ancestor,
// and handed it anew when that changes. Timers run only during a burst (ours
// and chokidar's throttles) and for the backstop, unref'd.

import type { Stats } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { watch as chokidar, type FSWatcher } from 'chokidar';
import { monotonicMs } from '../clock/clock.ts';
import { errnoCode } from './errno.ts';

export interface MountedDirectoryOptions {
  /** The entries of the directory whose events matter (default: all). Names starting with `..` are the swap's. */
  readonly accept?: (name: string) => boolean;
  /**
   * Watch real subdirectories too, up to `MAX_DEPTH` levels down (not symlinks, not `..` entries: a Secret's versions
   * change only by its swap).
   */
  readonly recursive?: boolean;
  /** Quiet time that ends a burst (a Secret update is a handful of events within milliseconds). */
  readonly quietMs?: number;
  /** A burst that never goes quiet still ends this long after its first event. */
  readonly longestQuietMs?: number;
  /** A backstop check this often; none without it. Keep it rare: an idle manager must not wake. */
  readonly backstopMs?: number;
  /**
   * Asked at each backstop check: a callback follows only a yes (or a rejection). By default, whether the directory's
   * stat signature (`mountedSignature`: its own entries, not its subdirectories') differs from the one taken when the
   * last callback was made.
   */
  readonly hasChanged?: () => Promise<boolean>;
  /** A directory could not be watched, or its watch broke; the backstop check (if any) still runs. */
  readonly onWatchError?: (error: Error, directory: string) => void;
  /** The directory is missing; `ancestor` (or nothing) is watched until it appears. */
  readonly onMissing?: (ancestor: string | undefined) => void;
}

export interface MountedDirectoryWatch {
  /** Resolves once the watches are in place, so that no change slips in before the caller's first look. */
  readonly ready: Promise<void>;
  /** Looks for the directory again now (it may have appeared, gone or been replaced); resolves once watches follow. */
  refresh(): Promise<void>;
  /** Closes every watch and timer at once; a callback never follows. */
  close(): void;
}

/** A recursive watch watches subdirectories this many levels down, no deeper (inotify watches are a per-user budget). */
export const MAX_DEPTH = 8;

/** What chokidar is handed (`root`, a real path): the directory, or the ancestor it will appear in. */
type Target =
  | { readonly present: true; readonly root: string; readonly identity: string }
  | {
      readonly present: false;
      readonly root?: string;
      readonly ancestor?: string;
      readonly next?: string;
      readonly identity: string;
    };

export function watchMountedDirectory(
  dir: string,
  onChange: (why: string) => void,
  options: MountedDirectoryOptions = {},
): MountedDirectoryWatch {
  const { accept = () => true } = options;
  const recursive = options.recursive === true;
  let current: { readonly key: string; readonly watcher: FSWatcher; readonly stopped: () => void } | undefined;
  let closed = false;
  let syncing: Promise<void> = Promise.resolve();
  let reportedDepth = false;
  let reportedMissing: string | null = null;
  const baseline = options.hasChanged ? undefined : signatureBaseline(() => mountedSignature(dir, accept));
  const hasChanged = options.hasChanged ?? baseline!.changed;

  const fire = async (why: string): Promise<void> => {
    burst.cancel();
    await refresh();
    if (closed) return;
    if (options.backstopMs !== undefined) baseline?.take();
    onChange(why);
  };
  const burst = coalesce(options.quietMs ?? 100, options.longestQuietMs ?? 1_000, (why) => void fire(why));
  const mark = (why: string): void => {
    if (!closed) burst.mark(why);
  };

  const drop = (watcher: FSWatcher): void => {
    if (current?.watcher !== watcher) return;
    current.stopped();
    current = undefined;
    // Its watches close at once; the promise only waits for scans under way, which stop on their own.
    void watcher.close();
  };
  const start = (target: Target & { root: string }): FSWatcher => {
    const considered = consideredEntries(target.root, target.present ? accept : (name) => name === target.next, () => {
      if (!recursive || reportedDepth) return;
      reportedDepth = true;
      options.onWatchError?.(new Error(`directories more than ${MAX_DEPTH} levels down are not watched`), dir);
    });
    const watcher = chokidar(target.root, {
      ignored: (file, stats) => !considered(file, stats),
      depth: target.present && recursive ? MAX_DEPTH : 0,
      ignoreInitial: true,
      followSymlinks: false,
      usePolling: false,
      // Both add timers per event, to name a change more precisely; a burst is coalesced here anyway.
      atomic: false,
      awaitWriteFinish: false,
    });
    watcher.on('all', (event, file) => mark(`${event} ${path.relative(target.root, file) || '.'}`));
    // Every inotify event of a watched directory: the writes to regular files (not watched one by one) and the
    // swap's renames. The watched directory's own events (deleted, moved away) come under its own name.
    watcher.on('raw', (event, name, details) => {
      const { watchedPath } = details as { watchedPath: string };
      const self = !name || name === path.basename(watchedPath);
      // Its watch now watches the old directory. chokidar shares one fs.watch per path among its watchers and
      // keeps it while any holds it: every watcher of the path lets go now, so the next one watches the new one.
      if (self && watchedPath === target.root) drop(watcher);
      if (self || considered(path.join(watchedPath, name))) mark(`${event} ${name || watchedPath}`);
    });
    watcher.on('error', (error) => {
      options.onWatchError?.(error as Error, target.root);
      mark('watch error');
    });
    return watcher;
  };

  const follow = async (): Promise<void> => {
    if (closed) return;
    const target = await locate(dir);
    if (closed) return;
    const key = `${target.root} ${target.identity} ${target.present ? '' : target.next}`;
    if (current?.key !== key) {
      if (current) drop(current.watcher);
      if (target.root !== undefined) {
        const watcher = start(target as Target & { root: string });
        // Dropped before it is ready (closed, or its directory already gone), it never will be.
        await new Promise<void>((resolve) => {
          current = { key, watcher, stopped: resolve };
          watcher.once('ready', resolve);
        });
      }
    }
    const missing = target.present ? null : (target.ancestor ?? '');
    if (!target.present && missing !== reportedMissing) options.onMissing?.(target.ancestor);
    reportedMissing = missing;
  };
  // One at a time: an event and the caller may both ask.
  const refresh = (): Promise<void> => (syncing = syncing.then(follow, follow));

  const backstop =
    options.backstopMs === undefined
      ? undefined
      : every(options.backstopMs, async () => {
          await refresh();
          if (!closed && (await hasChanged().catch(() => true)) && !closed) await fire('backstop poll');
        });

  return {
    ready: refresh().then(async () => {
      if (backstop && !closed) await baseline?.take();
    }),
    refresh,
    close() {
      closed = true;
      clearInterval(backstop);
      burst.cancel();
      if (current) drop(current.watcher);
    },
  };
}

/**
 * Which paths below `root` count: its entries that `names` accepts, anything deeper (a recursive watch); of those,
 * symlinks and directories get chokidar's attention, but no regular file (the directory's watch reports it) and no
 * `..` directory (a Secret's versions change only by its `..data` swap, which the directory's watch reports).
 */
function consideredEntries(root: string, names: (name: string) => boolean, tooDeep: () => void) {
  return (file: string, stats?: Stats): boolean => {
    const parts = path.relative(root, file).split(path.sep);
    if (parts[0] === '') return true;
    if (parts.length === 1 && !names(parts[0]!)) return false;
    if (!stats || stats.isSymbolicLink()) return true;
    if (!stats.isDirectory() || parts.at(-1)!.startsWith('..')) return false;
    if (parts.length > MAX_DEPTH) tooDeep();
    return true;
  };
}

/** Marks end in one `end(why)` once `quietMs` pass without one, or `longestQuietMs` after the first; unref'd. */
function coalesce(quietMs: number, longestQuietMs: number, end: (why: string) => void) {
  let timer: NodeJS.Timeout | undefined;
  let startedAt: number | null = null;
  const cancel = (): void => {
    clearTimeout(timer);
    timer = undefined;
    startedAt = null;
  };
  return {
    cancel,
    mark(why: string): void {
      const now = monotonicMs();
      startedAt ??= now;
      clearTimeout(timer);
      timer = setTimeout(() => end(why), Math.max(0, Math.min(quietMs, startedAt + longestQuietMs - now)));
      timer.unref();
    },
  };
}

/** An unref'd interval that never overlaps itself. */
function every(ms: number, task: () => Promise<void>): NodeJS.Timeout {
  let running = false;
  const interval = setInterval(() => {
    if (running) return;
    running = true;
    task().finally(() => (running = false));
  }, ms);
  return interval.unref();
}

/** The default backstop check: the signature differs from the one taken at the last callback (or check). */
function signatureBaseline(signature: () => Promise<string>) {
  let baseline: Promise<string> | undefined;
  return {
    take: (): Promise<string> => (baseline = signature()),
    async changed(): Promise<boolean> {
      const before = await baseline;
      baseline = signature();
      return (await baseline) !== before;
    },
  };
}

/**
 * The directory, or its nearest existing ancestor and the next path component, with chokidar handed the real path
 * (it does not follow a symlink it is handed: it would watch the symlink's parent instead).
 */
async function locate(dir: string): Promise<Target> {
  for (let found = path.resolve(dir); ; found = path.dirname(found)) {
    const identity = await directoryIdentity(found);
    if (identity !== undefined) {
      const root = await fsp.realpath(found).catch(() => found);
      if (found === path.resolve(dir)) return { present: true, root, identity };
      return { present: false, root, ancestor: found, next: path.relative(found, dir).split(path.sep)[0]!, identity };
    }
    if (found === path.dirname(found)) return { present: false, identity: '' };
  }
}

/** The directory's inode and birth time, or undefined when there is no directory there (any error: not watchable). */
async function directoryIdentity(file: string): Promise<string | undefined> {
  try {
    const stats = await fsp.stat(file, { bigint: true });
    return stats.isDirectory() ? `${stats.dev}:${stats.ino}:${stats.birthtimeNs}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A stat signature of the directory: the `..data` target, and each accepted entry's inode, size and times (symlinks
 * followed), a fraction of what reading and hashing the files would cost. It misses only a same-size rewrite in place
 * within one timestamp tick, which Kubernetes never does and inotify reports anyway. Subdirectories are not covered.
 */
export async function mountedSignature(dir: string, accept: (name: string) => boolean = () => true): Promise<string> {
  const parts = [`..data -> ${await readLinkOrError(path.join(dir, '..data'))}`, `${dir} ${await statSignature(dir)}`];
  let names: string[] = [];
  try {
    names = (await fsp.readdir(dir)).sort();
  } catch (error) {
    parts.push(`readdir ${errnoCode(error)}`);
  }
  for (const name of names)
    if (!name.startsWith('..') && accept(name)) parts.push(`${name} ${await statSignature(path.join(dir, name))}`);
  return parts.join('\n');
}

/** Never rejects: an error code is a state like any other, and a change from or to it counts. */
export async function statSignature(file: string): Promise<string> {
  try {
    const s = await fsp.stat(file, { bigint: true });
    return `${s.ino} ${s.size} ${s.mtimeNs} ${s.ctimeNs}`;
  } catch (error) {
    return errnoCode(error) ?? 'error';
  }
}

async function readLinkOrError(file: string): Promise<string> {
  try {
    return await fsp.readlink(file);
  } catch (error) {
    return errnoCode(error) ?? 'error';
  }
}
