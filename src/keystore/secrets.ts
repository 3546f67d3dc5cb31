// Passwords given inline or as a file. Files are read at each use, so a
// rotated Secret is picked up without a restart.

import fs from 'node:fs/promises';

export type SecretRead = { readonly ok: true; readonly value: string | undefined } | { readonly ok: false; readonly reason: string };

/**
 * The inline value wins over the file (as in the original design). Trailing
 * newlines are dropped, as `$(cat file)` in the image's entrypoint does.
 * `fileVariable` names the variable in messages.
 */
export async function readSecret(value: string | undefined, file: string | undefined, fileVariable: string): Promise<SecretRead> {
  if (value !== undefined) return { ok: true, value };
  if (file === undefined) return { ok: true, value: undefined };
  try {
    return { ok: true, value: (await fs.readFile(file, 'utf8')).replace(/[\r\n]+$/, '') };
  } catch (error) {
    // Expected: ENOENT (Secret not mounted), EACCES.
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    return { ok: false, reason: `cannot read ${fileVariable} ${file}: ${why}` };
  }
}
