// Reads SOURCE_DIR as it is now: one secure setting per regular, non-hidden
// top-level entry (symlinks followed), identified by the sha256 of its bytes.
// Kubernetes swaps the `..data` symlink under our feet; a scan that overlaps a
// swap (revision changed, or a listed entry vanished) is thrown away and redone.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** The characters elasticsearch-keystore accepts in a setting name (Secret keys use the same set). */
const SETTING_NAME = /^[A-Za-z0-9_\-.]+$/;
/** Never taken from the directory: bootstrap.password falls back to it, and ES adds it itself. */
const RESERVED_NAMES = new Set(['keystore.seed']);
const SCAN_ATTEMPTS = 5;
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
}

export interface Snapshot {
  readonly entries: ReadonlyMap<string, SourceEntry>;
  readonly hashes: ReadonlyMap<string, string>;
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
    const result = await scanOnce(dir);
    if (result.ok !== 'raced') return result;
    // Still racing after a few tries: a dangling symlink that stays dangling.
    if (attempt >= SCAN_ATTEMPTS) return { ok: false, reason: result.reason, isDirMissing: false };
    await new Promise((resolve) => setTimeout(resolve, RACE_RETRY_MS * attempt));
  }
}

/** The `..data` target, or null when there is none (ENOENT, or not a symlink: EINVAL). */
export async function readRevision(dir: string): Promise<string | null> {
  try {
    return await fs.readlink(path.join(dir, '..data'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EINVAL' || code === 'ENOTDIR') return null;
    throw error;
  }
}

async function scanOnce(dir: string): Promise<Attempt> {
  let names: string[];
  let revisionBefore: string | null;
  try {
    revisionBefore = await readRevision(dir);
    names = (await fs.readdir(dir)).filter((name) => !name.startsWith('.')).sort();
  } catch (error) {
    return dirFailure(dir, error as NodeJS.ErrnoException);
  }
  const entries = new Map<string, SourceEntry>();
  const ignored: IgnoredEntry[] = [];
  for (const name of names) {
    const read = await readEntry(path.join(dir, name));
    if (read.kind === 'raced') return { ok: 'raced', reason: read.reason };
    if (read.kind === 'failed') return { ok: false, reason: read.reason, isDirMissing: false };
    if (read.kind === 'ignored') {
      ignored.push({ name, reason: read.reason });
      continue;
    }
    if (!SETTING_NAME.test(name)) ignored.push({ name, reason: 'not a valid setting name (allowed: A-Z a-z 0-9 _ - .)' });
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
  return { ok: true, snapshot: { entries, hashes, revision: revisionAfter, ignored } };
}

type EntryRead =
  | { readonly kind: 'file'; readonly file: string; readonly hash: string }
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'raced'; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };

async function readEntry(entry: string): Promise<EntryRead> {
  try {
    const file = await fs.realpath(entry);
    // stat before reading: opening a FIFO would block the scan forever.
    const stats = await fs.stat(file);
    if (!stats.isFile()) return { kind: 'ignored', reason: `not a regular file (${describeType(stats)})` };
    const bytes = await fs.readFile(file);
    return { kind: 'file', file, hash: createHash('sha256').update(bytes).digest('hex') };
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    // ENOENT: removed mid-swap, or a link created before its target (older kubelets); look again.
    if (code === 'ENOENT') return { kind: 'raced', reason: `cannot read ${entry}: it is a dangling symlink or vanished while scanning` };
    if (code === 'EACCES' || code === 'EPERM') return { kind: 'failed', reason: `cannot read ${entry}: permission denied` };
    if (code === 'ELOOP') return { kind: 'failed', reason: `cannot read ${entry}: symlink loop` };
    return { kind: 'failed', reason: `cannot read ${entry}: ${message}` };
  }
}

function describeType(stats: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean }): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  return 'a device';
}

function dirFailure(dir: string, error: NodeJS.ErrnoException): ScanResult {
  // Expected: ENOENT (not mounted yet), ENOTDIR, EACCES.
  if (error.code === 'ENOENT') return { ok: false, reason: `SOURCE_DIR ${dir} does not exist`, isDirMissing: true };
  if (error.code === 'ENOTDIR') return { ok: false, reason: `SOURCE_DIR ${dir} is not a directory`, isDirMissing: false };
  if (error.code === 'EACCES') return { ok: false, reason: `cannot list SOURCE_DIR ${dir}: permission denied`, isDirMissing: false };
  return { ok: false, reason: `cannot list SOURCE_DIR ${dir}: ${error.message}`, isDirMissing: false };
}
