// Tells the updater when to look at SOURCE_DIR again. Events carry no meaning
// beyond "something moved": around a `..data` swap, watchers miss real changes
// and invent others (notes §4), so every event only marks the directory dirty
// (files/watch-mounted-directory.ts). Bursts are debounced into one rescan; a
// rare backstop poll covers anything a watcher never reports, and asks for a
// rescan only when change-detector.ts saw something change.
// The keystore is watched too (inotify on its directory, for its name only):
// an event there compares the keystore's stat signature with its baseline,
// quiet during and after our own passes (the baseline is taken as each ends),
// and asks for a rescan for a keystore deleted or edited behind our back. With both watched, the poll is
// needed only for what inotify cannot see (a watched directory replaced, a
// lost event), so it runs every 10 minutes: an idle manager with the updater
// on wakes for nothing in between (issue 20; every 30 s it cost 12.5 ms of
// CPU a minute).

import path from 'node:path';
import { watchMountedDirectory } from '../files/watch-mounted-directory.ts';
import type { Logger } from '../log/logger.ts';

/** Quiet time that ends a burst; a Secret update is a handful of events within milliseconds. */
const DEBOUNCE_MS = 100;
/** A never-ending trickle of events still gets a rescan this often. */
const LONGEST_DEBOUNCE_MS = 1_000;
/** No more often: an idle manager must cost no CPU. */
const BACKSTOP_POLL_MS = 600_000;
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
  /** Call after each scan: watches SOURCE_DIR once it exists, its nearest ancestor while it does not. */
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
  const action = { 'event.action': 'keystore-watch' };
  let closed = false;
  const source = watchMountedDirectory(dir, onDirty, {
    quietMs: DEBOUNCE_MS,
    longestQuietMs: LONGEST_DEBOUNCE_MS,
    backstopMs: pollMs,
    hasChanged,
    onWatchError: (error, watched) =>
      log.warn(`watching ${watched} failed: ${error.message}; the ${pollMs / 1000} s poll still runs`, action),
    onMissing: (ancestor) =>
      log.info(`SOURCE_DIR ${dir} does not exist; watching ${ancestor ?? 'nothing'} until it appears`, action),
  });
  // inotify on the keystore's directory, for the keystore's name only (a rename onto it, a deletion, a write).
  const keystoreWatch =
    keystore &&
    watchMountedDirectory(
      path.dirname(keystore.path),
      () =>
        void keystore.hasChanged().then(
          (changed) => changed && !closed && onDirty('keystore changed'),
          () => !closed && onDirty('keystore check failed'),
        ),
      {
        accept: (name) => name === path.basename(keystore.path),
        quietMs: KEYSTORE_QUIET_MS,
        longestQuietMs: KEYSTORE_LONGEST_QUIET_MS,
        onWatchError: (error) =>
          log.warn(
            `watching the keystore ${keystore.path} failed: ${error.message}; the backstop poll still runs`,
            action,
          ),
      },
    );
  return {
    ready: Promise.all([source.ready, keystoreWatch?.ready]).then(() => {}),
    retarget: () => source.refresh(),
    async close() {
      closed = true;
      source.close();
      keystoreWatch?.close();
    },
  };
}
