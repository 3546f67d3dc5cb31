// Reads SOURCE_DIR as it is now: one secure setting per regular, non-hidden
// top-level entry, identified by the sha256 of its bytes. Kubernetes swaps the
// `..data` symlink under our feet; a scan that overlaps a swap (revision
// changed, or a listed entry vanished) is thrown away and redone.
//
// Whoever writes the directory is not trusted further than the Secret's own
// layout: symlinks are followed only to files inside SOURCE_DIR (an entry
// linking to /etc/shadow is refused), an entry larger than a Secret can be is
// refused, and hashing streams. An entry that cannot be used is reported and
// left out; it does not block the others.

import fs from 'node:fs/promises';
import path from 'node:path';
import { describeReadError, hashBoundedFile, MiB, RefusedFileError } from '../files/bounded-read.ts';
import { errnoCode } from '../files/errno.ts';
import { SETTING_NAME, SETTING_NAME_RULE } from './setting-name.ts';

/** Never taken from the directory: bootstrap.password falls back to it, and ES adds it itself. */
const RESERVED_NAMES = new Set(['keystore.seed']);
const SCAN_ATTEMPTS = 5;
/** Kubernetes refuses a Secret larger than 1 MiB in all, so no entry can be larger. */
export const MAX_ENTRY_BYTES = MiB;
const RACE_RETRY_MS = 50;

export interface SourceEntry {
  readonly name: string;
  /** Where the bytes were read, symlinks resolved: a `..<timestamp>` file never changes once written. */
  readonly file: string;
  readonly hash: string;
}

export interface IgnoredEntry {
  readonly name: string;
  readonly reason: string;
  /** Present but unusable (refused, dangling, unreadable): whatever was applied for it stays in the keystore. */
  readonly isHeld?: boolean;
}

export interface Snapshot {
  readonly entries: ReadonlyMap<string, SourceEntry>;
  readonly hashes: ReadonlyMap<string, string>;
  /** Names present in the directory that could not be read this time: neither updated nor removed. */
  readonly held: ReadonlySet<string>;
  /** SOURCE_DIR with its own symlinks resolved, as this scan saw it: every entry's file lies beneath it. */
  readonly root: string;
  /** Target of the `..data` symlink (the Secret's revision), null in a plain directory. */
  readonly revision: string | null;
  readonly ignored: readonly IgnoredEntry[];
}

export type ScanResult =
  | { readonly ok: true; readonly snapshot: Snapshot }
  | { readonly ok: false; readonly reason: string; readonly isDirMissing: boolean };

type Attempt = ScanResult | { readonly ok: 'raced'; readonly reason: string };

export async function scanSource(dir: string): Promise<ScanResult> {
  for (let attempt = 1; ; attempt++) {
    const result = await scanOnce(dir, attempt === SCAN_ATTEMPTS);
    if (result.ok !== 'raced') return result;
    // Still racing after a few tries: a dangling symlink that stays dangling.
    if (attempt >= SCAN_ATTEMPTS) return { ok: false, reason: result.reason, isDirMissing: false };
    await new Promise((resolve) => setTimeout(resolve, RACE_RETRY_MS * attempt));
  }
}

/** The `..data` target, or null when there is none (ENOENT, or not a symlink: EINVAL). */
async function readRevision(dir: string): Promise<string | null> {
  try {
    return await fs.readlink(path.join(dir, '..data'));
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'EINVAL' || code === 'ENOTDIR') return null;
    throw error;
  }
}

async function scanOnce(dir: string, isLastAttempt: boolean): Promise<Attempt> {
  let names: string[];
  let revisionBefore: string | null;
  let root: string;
  try {
    revisionBefore = await readRevision(dir);
    root = await fs.realpath(dir);
    names = (await fs.readdir(dir)).filter((name) => !name.startsWith('.')).sort();
  } catch (error) {
    return dirFailure(dir, error as NodeJS.ErrnoException);
  }
  const entries = new Map<string, SourceEntry>();
  const ignored: IgnoredEntry[] = [];
  const held = new Set<string>();
  for (const name of names) {
    const read = await readEntry(root, name);
    // Dangling now may be a swap in progress: look again, and only then call it dangling.
    if (read.kind === 'vanished' && !isLastAttempt) return { ok: 'raced', reason: read.reason };
    if (read.kind === 'vanished' || read.kind === 'unusable') {
      ignored.push({ name, reason: read.reason, isHeld: true });
      held.add(name);
      continue;
    }
    if (read.kind === 'ignored') {
      ignored.push({ name, reason: read.reason });
      continue;
    }
    if (!SETTING_NAME.test(name)) ignored.push({ name, reason: `not a valid setting name (${SETTING_NAME_RULE})` });
    else if (RESERVED_NAMES.has(name)) ignored.push({ name, reason: `${name} is reserved and never managed` });
    else entries.set(name, { name, file: read.file, hash: read.hash });
  }
  let revisionAfter: string | null;
  try {
    revisionAfter = await readRevision(dir);
  } catch (error) {
    return dirFailure(dir, error as NodeJS.ErrnoException);
  }
  // ..data swapped while we read: some entries may come from the old revision.
  if (revisionAfter !== revisionBefore) return { ok: 'raced', reason: `${dir}/..data changed while scanning` };
  const hashes = new Map([...entries].map(([name, entry]) => [name, entry.hash]));
  return { ok: true, snapshot: { entries, hashes, held, root, revision: revisionAfter, ignored } };
}

type EntryRead =
  | { readonly kind: 'file'; readonly file: string; readonly hash: string }
  /** Not a setting at all (a directory): as if absent. */
  | { readonly kind: 'ignored'; readonly reason: string }
  /** Dangling or gone while we looked. */
  | { readonly kind: 'vanished'; readonly reason: string }
  /** There, but refused or unreadable. */
  | { readonly kind: 'unusable'; readonly reason: string };

/** root is SOURCE_DIR with its own symlinks resolved: every entry must resolve to a file beneath it. */
async function readEntry(root: string, name: string): Promise<EntryRead> {
  let file: string;
  try {
    file = await fs.realpath(path.join(root, name));
  } catch (error) {
    return unreadable(error as NodeJS.ErrnoException);
  }
  if (!isBeneath(root, file)) {
    return { kind: 'unusable', reason: `refused: a symlink out of SOURCE_DIR (to ${file})` };
  }
  try {
    // No symlink may be followed any more (O_NOFOLLOW), and a FIFO or device is refused before any read.
    const hash = await hashBoundedFile(file, { maxBytes: MAX_ENTRY_BYTES, noFollow: true });
    return { kind: 'file', file, hash };
  } catch (error) {
    if ((error as RefusedFileError).code === 'ENOTREG') {
      const reason = describeReadError(error);
      return reason.endsWith('(a directory)')
        ? { kind: 'ignored', reason }
        : { kind: 'unusable', reason: `refused: ${reason}` };
    }
    if (error instanceof RefusedFileError)
      return { kind: 'unusable', reason: `refused: ${describeReadError(error)} (a Secret holds at most 1 MiB)` };
    return unreadable(error as NodeJS.ErrnoException);
  }
}

/** The one rule for "inside SOURCE_DIR", at scan time and again when the CLI is handed the file. */
export function isBeneath(root: string, file: string): boolean {
  return file.startsWith(`${root}${path.sep}`);
}

function unreadable(error: NodeJS.ErrnoException): EntryRead {
  // ENOENT: removed mid-swap, or a link created before its target (older kubelets), or dangling for good.
  if (error.code === 'ENOENT')
    return { kind: 'vanished', reason: 'cannot read it: a dangling symlink, or it vanished while scanning' };
  if (error.code === 'ELOOP') return { kind: 'unusable', reason: 'cannot read it: symlink loop' };
  return { kind: 'unusable', reason: `cannot read it: ${describeReadError(error)}` };
}

function dirFailure(dir: string, error: NodeJS.ErrnoException): ScanResult {
  // Expected: ENOENT (not mounted yet), ENOTDIR, EACCES.
  if (error.code === 'ENOENT') return { ok: false, reason: `SOURCE_DIR ${dir} does not exist`, isDirMissing: true };
  if (error.code === 'ENOTDIR')
    return { ok: false, reason: `SOURCE_DIR ${dir} is not a directory`, isDirMissing: false };
  if (error.code === 'EACCES')
    return { ok: false, reason: `cannot list SOURCE_DIR ${dir}: permission denied`, isDirMissing: false };
  return { ok: false, reason: `cannot list SOURCE_DIR ${dir}: ${error.message}`, isDirMissing: false };
}
