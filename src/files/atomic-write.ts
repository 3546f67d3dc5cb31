// The one way the manager writes a file (state file, keystore record, private
// key, CSR, the PID-1 helper), so that a reader sees the old content or the
// new, never a torn one, even across a power cut, and so that nobody who can
// write the directory steers the write elsewhere:
//   - the temporary file has an unpredictable name and is created with
//     O_CREAT|O_EXCL (which never follows a symlink planted under that name);
//   - it gets its final mode with fchmod (the umask cannot widen or narrow it),
//     so the content never exists, even briefly, in a file others may read;
//   - fsync, rename (atomic within one file system, and it replaces a symlink
//     at the target instead of following it), fsync the directory;
//   - on any failure the temporary file is removed.
// Only asynchronous: every step, the fsyncs above all (seconds on a slow
// disk), runs on libuv's threads, never on the event loop that answers /health;
// the one exception, eight bytes from /dev/urandom for the name, never blocks.

import { Buffer } from 'node:buffer';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from './errno.ts';

export interface AtomicWriteOptions {
  /** Mode of the file. */
  readonly mode: number;
  /** Mode of directories created on the way (the umask applies); 0755 when not given. */
  readonly directoryMode?: number;
}

const DEFAULT_DIRECTORY_MODE = 0o755;
const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW, O_CLOEXEC } = fsSync.constants as typeof fsSync.constants & {
  O_CLOEXEC?: number;
};
const CREATE_EXCLUSIVE = O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | (O_CLOEXEC ?? 0);
/** A name taken by chance (or by someone guessing 64 random bits) is retried, not fatal. */
const NAME_ATTEMPTS = 3;

/** `data` may be a stream: a 100 MB executable (install) need not be read into memory first. */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array | AsyncIterable<Uint8Array>,
  options: AtomicWriteOptions,
): Promise<void> {
  const directory = path.dirname(file);
  await makeDirectory(directory, options.directoryMode ?? DEFAULT_DIRECTORY_MODE);
  const { handle, temporary } = await createTemporary(file, options.mode);
  try {
    try {
      await handle.chmod(options.mode);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, file);
  } catch (error) {
    await fs.rm(temporary, { force: true }).catch(() => {});
    throw error;
  }
  await syncDirectory(directory);
}

const TEMPORARY_HEX_CHARS = 16;

function temporaryName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomHex(TEMPORARY_HEX_CHARS / 2)}.tmp`);
}

/**
 * The kernel's random bytes, read from /dev/urandom rather than through node:crypto: loading node:crypto costs a
 * manager 8 to 12 ms of start-up (issue 20), and the state file is written before the API can answer.
 */
function randomHex(bytes: number): string {
  const buffer = Buffer.alloc(bytes);
  const fd = fsSync.openSync('/dev/urandom', 'r');
  try {
    if (fsSync.readSync(fd, buffer, 0, bytes, null) !== bytes) throw new Error('/dev/urandom gave too few bytes');
  } finally {
    fsSync.closeSync(fd);
  }
  return buffer.toString('hex');
}

/**
 * Removes the temporary files that interrupted writes of `file` left beside it (a SIGKILL between create and rename
 * leaves one). Only regular files named exactly as temporaryName names them; anything else is someone else's. Call it
 * only while no other writer of `file` can run (the state file's lock). Returns the names removed.
 */
export function sweepTemporaries(file: string): string[] {
  const directory = path.dirname(file);
  const escaped = path.basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const ours = new RegExp(`^\\.${escaped}\\.[0-9a-f]{${TEMPORARY_HEX_CHARS}}\\.tmp$`);
  let names: string[];
  try {
    names = fsSync.readdirSync(directory);
  } catch {
    return []; // no directory yet: nothing left over
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!ours.test(name)) continue;
    const candidate = path.join(directory, name);
    try {
      if (!fsSync.lstatSync(candidate).isFile()) continue;
      fsSync.unlinkSync(candidate);
      removed.push(name);
    } catch {
      // Gone meanwhile, or not ours to remove: leave it.
    }
  }
  return removed;
}

async function createTemporary(file: string, mode: number): Promise<{ handle: fs.FileHandle; temporary: string }> {
  for (let attempt = 1; ; attempt++) {
    const temporary = temporaryName(file);
    try {
      return { handle: await fs.open(temporary, CREATE_EXCLUSIVE, mode), temporary };
    } catch (error) {
      // EEXIST: the name is taken (a planted file or symlink); draw another.
      if (errnoCode(error) !== 'EEXIST' || attempt >= NAME_ATTEMPTS) throw error;
    }
  }
}

// mkdir -p reports a regular file in the way as EEXIST, which reads as if all were well.
async function makeDirectory(directory: string, mode: number): Promise<void> {
  try {
    await fs.mkdir(directory, { recursive: true, mode });
  } catch (error) {
    throw notADirectory(directory, error);
  }
}

function notADirectory(directory: string, error: unknown): unknown {
  if (errnoCode(error) !== 'EEXIST') return error;
  return Object.assign(new Error(`ENOTDIR: not a directory: ${directory}`), { code: 'ENOTDIR' });
}

// Makes the rename itself durable. Some file systems (and Deno's node
// compatibility) refuse to open or fsync a directory; the data is then as
// durable as that file system allows, which is all we can do.
async function syncDirectory(directory: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(directory, 'r');
    await handle.sync();
  } catch {
    // EISDIR, EINVAL, EPERM: not supported here.
  } finally {
    await handle?.close().catch(() => {});
  }
}
