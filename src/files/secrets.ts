// Passwords given inline or as a file. Files are read at each use, so a
// rotated Secret is picked up without a restart.

import { describeReadError, KiB, readBoundedFile } from './bounded-read.ts';

/** A password, not a document. */
const MAX_SECRET_FILE_BYTES = 64 * KiB;

export type SecretRead =
  | { readonly ok: true; readonly value: string | undefined }
  | { readonly ok: false; readonly reason: string };

/**
 * The inline value wins over the file (as in the original design). Trailing
 * newlines are dropped, as `$(cat file)` in the image's entrypoint does.
 * `fileVariable` names the variable in messages.
 */
export async function readSecret(
  value: string | undefined,
  file: string | undefined,
  fileVariable: string,
): Promise<SecretRead> {
  if (value !== undefined) return { ok: true, value };
  if (file === undefined) return { ok: true, value: undefined };
  try {
    const bytes = await readBoundedFile(file, { maxBytes: MAX_SECRET_FILE_BYTES });
    return { ok: true, value: bytes.toString('utf8').replace(/[\r\n]+$/, '') };
  } catch (error) {
    // Expected: ENOENT (Secret not mounted), EACCES; refused: not a regular file, too large.
    return { ok: false, reason: `cannot read ${fileVariable} ${file}: ${describeReadError(error)}` };
  }
}
