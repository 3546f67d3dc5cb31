// Hands elasticsearch-keystore the very files the scan checked. The CLI opens
// add-file's paths again by name, in another process, seconds after our scan:
// in between, whoever writes SOURCE_DIR could swap a directory on the path
// for a symlink out of it (O_NOFOLLOW guards only the last component), or
// change the bytes. So each file is opened here, checked again through its
// descriptor (what it is, where it really lies, what it holds), and the
// descriptor itself is inherited by the CLI, which is given /dev/fd/N: on
// Linux, opening that reopens the same inode, at offset 0, wherever its name
// has gone since (AddFileKeyStoreCommand does Files.exists, then
// Files.readAllBytes, on the path it is given).
//
// A file that moved or changed since the scan is not handed on: the caller
// looks again, and the next scan judges what is there now.
//
// Node opens every file O_CLOEXEC: only the add-file child, which is given
// these descriptors explicitly, inherits them; Elasticsearch or anything else
// spawned meanwhile does not.

import fs from 'node:fs/promises';
import {
  describeReadError,
  hashOpenFile,
  openBoundedFile,
  RefusedFileError,
  type OpenedFile,
} from '../files/bounded-read.ts';
import { errnoCode } from '../files/errno.ts';
import { isBeneath, MAX_ENTRY_BYTES, type SourceEntry } from './scan-source.ts';

export interface PinnedFile {
  readonly name: string;
  /** Where the scan read it, for messages. */
  readonly file: string;
  /** Ours until release(); the CLI gets its own copy. */
  readonly fd: number;
}

export type PinResult =
  | { readonly ok: true; readonly files: readonly PinnedFile[]; readonly release: () => Promise<void> }
  /** isSourceChanged: moved or changed since the scan, so a rescan will see something else; otherwise a plain failure. */
  | { readonly ok: false; readonly reason: string; readonly isSourceChanged: boolean };

interface Refusal {
  readonly reason: string;
  readonly isSourceChanged: boolean;
}

/** Opens and re-checks every entry; on any refusal, closes what it opened and says why. */
export async function pinSourceFiles(root: string, entries: readonly SourceEntry[]): Promise<PinResult> {
  const opened: OpenedFile[] = [];
  // allSettled: one failing close must neither hide the outcome nor leave the others open.
  const release = async (): Promise<void> => void (await Promise.allSettled(opened.map((file) => file.handle.close())));
  try {
    for (const entry of entries) {
      const refusal = await pinOne(root, entry, opened);
      if (refusal !== null) {
        await release();
        return { ok: false, ...refusal };
      }
    }
  } catch (error) {
    await release();
    throw error;
  }
  const files = entries.map((entry, i) => ({ name: entry.name, file: entry.file, fd: opened[i].handle.fd }));
  return { ok: true, files, release };
}

/** null when pinned. `opened` receives the file as soon as it is open, so the caller can close it whatever happens next. */
async function pinOne(root: string, entry: SourceEntry, opened: OpenedFile[]): Promise<Refusal | null> {
  const changed = (what: string): Refusal => ({
    reason: `${entry.name} (${entry.file}) changed since the scan: ${what}`,
    isSourceChanged: true,
  });
  let file: OpenedFile;
  try {
    // O_NOFOLLOW and O_NONBLOCK, then fstat: a symlink, FIFO or device planted since the scan is refused before any read.
    file = await openBoundedFile(entry.file, { maxBytes: MAX_ENTRY_BYTES, noFollow: true });
  } catch (error) {
    // Expected: ENOENT (a Secret swap deleted the old timestamped directory), ELOOP (now a symlink), ENOTDIR.
    const code = errnoCode(error);
    if (error instanceof RefusedFileError || code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR')
      return changed(describeReadError(error));
    return { reason: `cannot open ${entry.name} (${entry.file}): ${describeReadError(error)}`, isSourceChanged: false };
  }
  opened.push(file);
  // The kernel's own name for the inode we hold, every directory on the way resolved as it was at open.
  // A file deleted since reads "<path> (deleted)": still the bytes we are about to check, from where it lay.
  let where: string;
  try {
    where = await fs.readlink(`/proc/self/fd/${file.handle.fd}`);
  } catch (error) {
    return {
      reason: `cannot tell where ${entry.file} lies (/proc/self/fd: ${describeReadError(error)}); is /proc mounted?`,
      isSourceChanged: false,
    };
  }
  if (!isBeneath(root, where)) return changed(`it now leads out of SOURCE_DIR (to ${where})`);
  let hash: string;
  try {
    hash = await hashOpenFile(file, MAX_ENTRY_BYTES);
  } catch (error) {
    if (error instanceof RefusedFileError) return changed(describeReadError(error));
    return { reason: `cannot read ${entry.name} (${entry.file}): ${describeReadError(error)}`, isSourceChanged: false };
  }
  return hash === entry.hash ? null : changed('its bytes differ');
}
