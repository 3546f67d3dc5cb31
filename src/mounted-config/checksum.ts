// The checksum of the configuration mounted into the pod, by the contract's
// algorithm, so that an orchestrator computes the same from the files it
// wrote: per configured path, in the order given, the line
// `<relative path> <sha256 of the bytes>\n` of each regular file under it in
// byte order of the relative path (`.` for a path that is a file); the
// checksum is the sha256 of those lines. Names beginning with `..` (a
// Secret's `..data` and `..<timestamp>` entries) are skipped; symlinks are
// followed only while they stay inside the configured path.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describeReadError, hashBoundedFile, MiB } from '../files/bounded-read.ts';
import { errnoCode } from '../files/errno.ts';

export const MAX_CONFIG_FILE_BYTES = MiB;
export const MAX_CONFIG_FILES = 1_000;
/** A `..data` swap during a walk makes files vanish under it: walk again, this many times at most. */
const ATTEMPTS = 3;

/** `reason` is for /health (no file path); `detail` names the file, for the log and the CLI. */
export type ChecksumResult =
  | { readonly ok: true; readonly sha256: string; readonly files: number }
  | { readonly ok: false; readonly reason: string; readonly detail: string; readonly vanished?: boolean };

interface Entry {
  readonly relative: string;
  readonly file: string;
}

class ChecksumRefused extends Error {
  readonly reason: string;
  readonly vanished: boolean;
  constructor(reason: string, detail: string, vanished = false) {
    super(detail);
    this.reason = reason;
    this.vanished = vanished;
  }
}

export async function configChecksum(paths: readonly string[]): Promise<ChecksumResult> {
  let result: ChecksumResult | undefined;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    result = await checksumOnce(paths);
    if (result.ok || !result.vanished) return result;
  }
  return result!;
}

async function checksumOnce(paths: readonly string[]): Promise<ChecksumResult> {
  const lines = createHash('sha256');
  let files = 0;
  try {
    for (const configured of paths) {
      const entries = await entriesOf(configured, MAX_CONFIG_FILES - files);
      files += entries.length;
      entries.sort((a, b) => Buffer.compare(Buffer.from(a.relative), Buffer.from(b.relative)));
      for (const entry of entries) lines.update(`${entry.relative} ${await hashOf(entry, configured)}\n`);
    }
  } catch (error) {
    if (error instanceof ChecksumRefused)
      return { ok: false, reason: error.reason, detail: error.message, vanished: error.vanished };
    throw error;
  }
  return { ok: true, sha256: lines.digest('hex'), files };
}

async function hashOf(entry: Entry, configured: string): Promise<string> {
  try {
    return await hashBoundedFile(entry.file, { maxBytes: MAX_CONFIG_FILE_BYTES });
  } catch (error) {
    const where = path.join(configured, entry.relative);
    throw new ChecksumRefused(
      `a file cannot be read: ${describeReadError(error)}`,
      `${where}: ${describeReadError(error)}`,
      errnoCode(error) === 'ENOENT',
    );
  }
}

/** The regular files of one configured path, at most `room` of them. */
async function entriesOf(configured: string, room: number): Promise<Entry[]> {
  let root: string;
  try {
    root = await fs.realpath(configured);
  } catch (error) {
    throw new ChecksumRefused(
      `a --config-path cannot be read: ${describeReadError(error)}`,
      `${configured}: ${describeReadError(error)}`,
    );
  }
  const stats = await fs.stat(root);
  if (stats.isFile()) return room > 0 ? [{ relative: '.', file: root }] : tooMany();
  if (!stats.isDirectory())
    throw new ChecksumRefused(
      'a --config-path is neither a file nor a directory',
      `${configured}: neither a file nor a directory`,
    );
  const entries: Entry[] = [];
  const inside = (real: string): boolean => real === root || real.startsWith(root === '/' ? '/' : `${root}${path.sep}`);

  const walk = async (dir: string, prefix: string, ancestors: ReadonlySet<string>): Promise<void> => {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (error) {
      throw new ChecksumRefused(
        `a directory cannot be read: ${describeReadError(error)}`,
        `${dir}: ${describeReadError(error)}`,
        errnoCode(error) === 'ENOENT',
      );
    }
    for (const name of names) {
      if (name.startsWith('..')) continue;
      const file = path.join(dir, name);
      const relative = prefix + name;
      let real: string;
      let target: import('node:fs').Stats;
      try {
        real = await fs.realpath(file);
        target = await fs.stat(real);
      } catch (error) {
        if (errnoCode(error) === 'ENOENT') {
          // A dangling symlink is no file; an entry gone since readdir means a swap under way.
          if ((await fs.lstat(file).catch(() => undefined))?.isSymbolicLink()) continue;
          throw new ChecksumRefused('the configuration changed during the checksum', `${file} vanished`, true);
        }
        throw new ChecksumRefused(
          `an entry cannot be read: ${describeReadError(error)}`,
          `${file}: ${describeReadError(error)}`,
        );
      }
      if (!inside(real)) continue; // a symlink leading out of the configured path is not followed
      if (target.isDirectory()) {
        if (ancestors.has(real)) continue; // a symlink loop
        await walk(real, `${relative}/`, new Set([...ancestors, real]));
      } else if (target.isFile()) {
        if (entries.length >= room) tooMany();
        entries.push({ relative, file: real });
      }
    }
  };
  await walk(root, '', new Set([root]));
  return entries;
}

function tooMany(): never {
  const text = `more than ${MAX_CONFIG_FILES.toLocaleString('en')} files under the --config-path paths`;
  throw new ChecksumRefused(text, text);
}
