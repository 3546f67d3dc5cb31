// Tells its caller when to look at a directory mounted from a Kubernetes
// Secret or ConfigMap again. An event is only a reason to look: the kubelet's
// atomic writer swaps a `..data` symlink, so an entry's content changes without
// any event naming it, and around the swap events are missed, doubled or
// arrive mid-way (notes §4). So every event only marks the directory dirty; a
// burst ends in one callback, after the watches have followed the directory
// (created late, deleted, made again: its parent is watched while it is
// missing), and a rare backstop check covers what inotify never reports.
//
// Node's fs.watch, one inotify watch per directory, not chokidar: chokidar's
// value is naming what changed, which on a Secret volume is wrong or missing
// anyway, and it pays for that with a stat of every entry at start and around
// every event. Timers run only during a burst and for the backstop, unref'd.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { monotonicMs } from '../clock/clock.ts';
import { errnoCode } from './errno.ts';

export interface MountedDirectoryOptions {
  /** The entries of the directory whose events matter (default: all). Names starting with `..` are the swap's. */
  readonly accept?: (name: string) => boolean;
  /** Watch real subdirectories too (not symlinks, not `..` entries: a Secret's versions change only by its swap). */
  readonly recursive?: boolean;
  /** Quiet time that ends a burst (a Secret update is a handful of events within milliseconds). */
  readonly quietMs?: number;
  /** A burst that never goes quiet still ends this long after its first event. */
  readonly longestQuietMs?: number;
  /** A backstop check this often; none without it. Keep it rare: an idle manager must not wake. */
  readonly backstopMs?: number;
  /**
   * Asked at each backstop check: a callback follows only a yes (or a rejection). By default, whether the stat
   * signature of the watched directories (the `..data` target, each accepted entry's inode, size and times, symlinks
   * followed) differs from the one taken when the last callback was made.
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

/** Beyond this many subdirectories, deeper ones are not watched (inotify watches are a per-user budget). */
export const MAX_WATCHED_DIRECTORIES = 256;

/** What a watch is for: the directory itself, one of its subdirectories, or the ancestor it will appear in. */
type Role = 'top' | 'sub' | { readonly awaiting: string };

interface Watched {
  readonly watcher: fs.FSWatcher;
  readonly identity: string;
  readonly role: string;
}

export function watchMountedDirectory(
  dir: string,
  onChange: (why: string) => void,
  options: MountedDirectoryOptions = {},
): MountedDirectoryWatch {
  const { accept = () => true } = options;
  const watched = new Map<string, Watched>();
  /** The directory and its watched subdirectories, while it exists: what the default signature covers. */
  let covered: string[] = [];
  let closed = false;
  let syncing: Promise<void> = Promise.resolve();
  let reportedCap = false;
  let reportedMissing: string | null = null;
  const baseline = options.hasChanged ? undefined : signatureBaseline(() => mountedSignature(dir, accept, covered));
  const hasChanged = options.hasChanged ?? baseline!.changed;

  const fire = async (why: string): Promise<void> => {
    burst.cancel();
    await refresh();
    if (closed) return;
    if (options.backstopMs !== undefined) baseline?.take();
    onChange(why);
  };
  const burst = coalesce(options.quietMs ?? 100, options.longestQuietMs ?? 1_000, (why) => void fire(why));

  const unwatch = (directory: string): void => {
    watched.get(directory)?.watcher.close();
    watched.delete(directory);
  };
  const listen = (directory: string, identity: string, role: Role): void => {
    const watcher = watchOne(directory, role, accept, (why, self) => {
      // Deleted or moved away, the watch stays on the old directory: drop it, the look after the burst watches
      // whatever is there then (a new directory may even get the old inode number).
      if (self && watched.get(directory)?.watcher === watcher) unwatch(directory);
      if (!closed) burst.mark(why);
    });
    watcher.on('error', (error) => {
      watcher.close();
      if (watched.get(directory)?.watcher === watcher) watched.delete(directory);
      if (errnoCode(error) !== 'ENOENT') options.onWatchError?.(error, directory);
      if (!closed) burst.mark('watch error');
    });
    watched.set(directory, { watcher, identity, role: roleKey(role) });
  };

  const follow = async (): Promise<void> => {
    if (closed) return;
    const target = await locate(dir, options.recursive === true);
    if (closed) return;
    const wanted = wantedWatches(dir, target);
    if (target.present && target.dirs.size > wanted.size && !reportedCap) {
      reportedCap = true;
      options.onWatchError?.(
        new Error(`more than ${MAX_WATCHED_DIRECTORIES} directories; the deeper ones are not watched`),
        dir,
      );
    }
    reconcile(watched, wanted, unwatch, (directory, { identity, role }) => {
      try {
        listen(directory, identity, role);
      } catch (error) {
        // Gone between the stat and the watch: its parent's event or the next check looks again.
        if (errnoCode(error) !== 'ENOENT') options.onWatchError?.(error as Error, directory);
      }
    });
    covered = target.present ? [...wanted.keys()] : [];
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
      for (const [directory] of watched) unwatch(directory);
    },
  };
}

type Wanted = { readonly identity: string; readonly role: Role };

/** Drops the watches not wanted (or on another directory, or for another role now); starts the missing ones. */
function reconcile(
  watched: ReadonlyMap<string, Watched>,
  wanted: ReadonlyMap<string, Wanted>,
  unwatch: (directory: string) => void,
  listen: (directory: string, want: Wanted) => void,
): void {
  for (const [directory, current] of watched) {
    const want = wanted.get(directory);
    if (!want || want.identity !== current.identity || roleKey(want.role) !== current.role) unwatch(directory);
  }
  for (const [directory, want] of wanted) if (!watched.has(directory)) listen(directory, want);
}

/** One inotify watch; `onEvent` for the events that matter to its role, `self` when it names the directory itself. */
function watchOne(
  directory: string,
  role: Role,
  accept: (name: string) => boolean,
  onEvent: (why: string, self: boolean) => void,
): fs.FSWatcher {
  const name = path.basename(directory);
  return fs.watch(directory, { persistent: true }, (event, reported) => {
    const entry = reported?.toString();
    // No name, or the directory's own (deleted or moved away): always a reason to look.
    const self = entry === undefined || entry === name;
    const matters = self || role === 'sub' || (role === 'top' ? accept(entry) : entry === role.awaiting);
    if (matters) onEvent(`${event} ${entry ?? name}`, entry === name);
  });
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

const roleKey = (role: Role): string => (typeof role === 'string' ? role : `awaiting ${role.awaiting}`);

type Target =
  | { readonly present: true; readonly dirs: Map<string, string> }
  | { readonly present: false; readonly ancestor?: string; readonly identity: string };

/** The directory and its subdirectories (up to the cap), or the ancestor to watch for its next path component. */
function wantedWatches(dir: string, target: Target): Map<string, Wanted> {
  const wanted = new Map<string, Wanted>();
  if (!target.present) {
    if (target.ancestor !== undefined)
      wanted.set(target.ancestor, {
        identity: target.identity,
        role: { awaiting: nextComponent(target.ancestor, dir) },
      });
    return wanted;
  }
  for (const [directory, identity] of target.dirs)
    if (wanted.size < MAX_WATCHED_DIRECTORIES)
      wanted.set(directory, { identity, role: directory === dir ? 'top' : 'sub' });
  return wanted;
}

async function locate(dir: string, recursive: boolean): Promise<Target> {
  const identity = await directoryIdentity(dir);
  if (identity !== undefined) {
    const dirs = new Map([[dir, identity]]);
    if (recursive) await addSubdirectories(dir, dirs);
    return { present: true, dirs };
  }
  for (let ancestor = path.dirname(dir); ; ancestor = path.dirname(ancestor)) {
    const ancestorIdentity = await directoryIdentity(ancestor);
    if (ancestorIdentity !== undefined) return { present: false, ancestor, identity: ancestorIdentity };
    if (ancestor === path.dirname(ancestor)) return { present: false, identity: '' };
  }
}

/** Breadth first, so that a cap keeps the shallow ones. */
async function addSubdirectories(root: string, dirs: Map<string, string>): Promise<void> {
  const queue = [root];
  while (queue.length > 0) {
    const current = queue.shift()!;
    const entries = await fsp.readdir(current, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name.startsWith('..')) continue;
      const child = path.join(current, entry.name);
      const identity = await directoryIdentity(child);
      if (identity === undefined) continue;
      dirs.set(child, identity);
      // One past the cap is enough for the caller to say so; it is not watched.
      if (dirs.size > MAX_WATCHED_DIRECTORIES) return;
      queue.push(child);
    }
  }
}

function nextComponent(ancestor: string, dir: string): string {
  return path.relative(ancestor, dir).split(path.sep)[0]!;
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
 * A stat signature of the watched directories: a readdir and a stat per entry, a fraction of what reading and
 * hashing the files would cost. It misses only a same-size rewrite in place within one timestamp tick, which
 * Kubernetes never does and inotify reports anyway.
 */
export async function mountedSignature(
  dir: string,
  accept: (name: string) => boolean = () => true,
  directories: readonly string[] = [dir],
): Promise<string> {
  const parts = [`..data -> ${await readLinkOrError(path.join(dir, '..data'))}`];
  for (const directory of directories.includes(dir) ? directories : [dir, ...directories]) {
    parts.push(`${directory} ${await statSignature(directory)}`);
    let names: string[] = [];
    try {
      names = (await fsp.readdir(directory)).sort();
    } catch (error) {
      parts.push(`readdir ${errnoCode(error)}`);
    }
    for (const name of names)
      if (!name.startsWith('..') && (directory !== dir || accept(name)))
        parts.push(`${name} ${await statSignature(path.join(directory, name))}`);
  }
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
