// Writes a file so that a reader (Elasticsearch reading its key, an operator
// reading the CSR) sees the old content or the new, never a torn one, even
// across a power cut: temporary file in the same directory (rename is atomic
// only within one file system), fsync, rename, fsync the directory.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** Mode of the file, applied with fchmod so the umask cannot widen or narrow it. */
  readonly mode: number;
  /** Mode of directories created on the way (the umask applies). */
  readonly directoryMode: number;
}

export async function writeFileAtomic(file: string, data: string, options: AtomicWriteOptions): Promise<void> {
  const directory = path.dirname(file);
  await makeDirectory(directory, options.directoryMode);
  const temporary = path.join(directory, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  // 'wx' with the final mode: the content never exists, even briefly, in a file others may read.
  const handle = await fs.open(temporary, 'wx', options.mode);
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
    await fs.rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(directory);
}

// mkdir -p reports a regular file in the way as EEXIST, which reads as if all were well.
async function makeDirectory(directory: string, mode: number): Promise<void> {
  try {
    await fs.mkdir(directory, { recursive: true, mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw Object.assign(new Error(`ENOTDIR: not a directory: ${directory}`), { code: 'ENOTDIR' });
  }
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
