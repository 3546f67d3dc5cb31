// The directory KEYSTORE_PATH names must exist before elasticsearch-keystore
// is run for it: when ES_PATH_CONF names a directory that does not exist, the
// real CLI's launcher script reports a failed `cd` and carries on with its
// working directory, where `add-file -f` then creates a keystore and exits 0
// (measured on 8.x). Elasticsearch would never read that one.

import fs from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../files/errno.ts';

/** null when the keystore's directory is there; otherwise why the CLI must not be run. */
export async function checkKeystoreDirectory(keystorePath: string): Promise<string | null> {
  const dir = path.dirname(keystorePath);
  const refusal = (what: string): string =>
    `the keystore's directory ${dir} (from KEYSTORE_PATH) ${what}; elasticsearch-keystore is not run, as it would write a keystore elsewhere`;
  try {
    const stat = await fs.stat(dir);
    return stat.isDirectory() ? null : refusal('is not a directory');
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') return refusal('does not exist');
    if (code === 'ENOTDIR') return refusal('is not a directory');
    return refusal(`cannot be read (${code ?? (error as Error).message})`);
  }
}
