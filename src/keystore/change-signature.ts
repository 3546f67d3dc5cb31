// What the backstop poll compares from one tick to the next instead of
// rescanning: the `..data` target, and inode, size, mtime and ctime of
// SOURCE_DIR, of each of its top-level entries (symlinks followed) and of the
// keystore. A readdir and a dozen stats cost a fraction of the rescan's
// reads and hashes, which an idle manager would otherwise pay every 30 s.
// It could miss only a same-size rewrite in place within one timestamp tick;
// Kubernetes never writes in place, and inotify reports that case anyway.

import fs from 'node:fs/promises';
import path from 'node:path';

export async function changeSignature(dir: string, files: readonly string[]): Promise<string> {
  const parts = [`..data -> ${await readLinkOrNothing(path.join(dir, '..data'))}`, `${dir} ${await statOrNothing(dir)}`];
  let names: string[] = [];
  try {
    names = (await fs.readdir(dir)).sort();
  } catch (error) {
    parts.push(`readdir ${(error as NodeJS.ErrnoException).code}`);
  }
  for (const name of names) if (!name.startsWith('..')) parts.push(`${name} ${await statOrNothing(path.join(dir, name))}`);
  for (const file of files) parts.push(`${file} ${await statOrNothing(file)}`);
  return parts.join('\n');
}

async function statOrNothing(file: string): Promise<string> {
  try {
    const s = await fs.stat(file, { bigint: true });
    return `${s.ino} ${s.size} ${s.mtimeNs} ${s.ctimeNs}`;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'error';
  }
}

async function readLinkOrNothing(file: string): Promise<string> {
  try {
    return await fs.readlink(file);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'error';
  }
}
