// What the backstop poll (every 10 minutes) and the keystore's watch check instead of rescanning: a signature
// of SOURCE_DIR (the `..data` target; inode, size, mtime and ctime of the
// directory and of each top-level entry, symlinks followed) and one of the
// keystore. A readdir and a dozen stats cost a fraction of a rescan's reads
// and hashes, which an idle manager would otherwise pay every 30 s.
//
// Baselines follow the sync passes: SOURCE_DIR's is taken just before a pass
// reads it, the keystore's just after a pass has written it, so the poll is
// quiet after our own work and wakes for anything else. A signature misses
// only a same-size rewrite in place within one timestamp tick; Kubernetes
// never writes in place, and inotify reports that case anyway.

import { mountedSignature, statSignature } from '../files/watch-mounted-directory.ts';

export interface ChangeDetector {
  /** A pass is about to read SOURCE_DIR; resolves once its baseline is taken. */
  passStarting(): Promise<void>;
  /** A pass has ended, its own keystore writes included; resolves once the keystore's baseline is taken. */
  passEnded(): Promise<void>;
  /** SOURCE_DIR or the keystore changed since the baselines; what is there now becomes the baseline. */
  hasChanged(): Promise<boolean>;
  /** The keystore alone, for its inotify events; always no while a pass runs (its end takes the baseline). */
  keystoreChanged(): Promise<boolean>;
}

export function createChangeDetector(sourceDir: string, keystorePath: string): ChangeDetector {
  let source: Promise<string> = sourceSignature(sourceDir);
  let keystore: Promise<string> = statSignature(keystorePath);
  let passing = false;
  return {
    async passStarting() {
      passing = true;
      source = sourceSignature(sourceDir);
      await source;
    },
    async passEnded() {
      passing = false;
      keystore = statSignature(keystorePath);
      await keystore;
    },
    async keystoreChanged() {
      if (passing) return false;
      const before = await keystore;
      keystore = statSignature(keystorePath);
      return (await keystore) !== before;
    },
    async hasChanged() {
      const [sourceBefore, keystoreBefore] = [await source, await keystore];
      source = sourceSignature(sourceDir);
      keystore = statSignature(keystorePath);
      return (await source) !== sourceBefore || (await keystore) !== keystoreBefore;
    },
  };
}

/** The signature the backstop of every mounted directory takes: the keystore's watch of SOURCE_DIR is one of them. */
export const sourceSignature = (dir: string): Promise<string> => mountedSignature(dir);
