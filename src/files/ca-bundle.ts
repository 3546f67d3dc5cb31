// The CA that calls to Elasticsearch trust (the reload call, the readiness check, cluster-restart), from
// CERTIFICATES_PATH: a PEM file, or a directory holding ca.crt, else ca.pem, else every *.crt / *.pem in it.
// Read at each call: the certificates Secret may be rotated.

import fs from 'node:fs/promises';
import path from 'node:path';
import { describeReadError, MiB, readBoundedFile } from './bounded-read.ts';
import { errnoCode } from './errno.ts';

export type CaBundle = { readonly ok: true; readonly pem: string } | { readonly ok: false; readonly reason: string };

const PREFERRED_NAMES = ['ca.crt', 'ca.pem'];
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
/** A system-wide bundle of every public root is about 220 KiB. */
const MAX_CA_FILE_BYTES = MiB;

export async function loadCaBundle(certificatesPath: string): Promise<CaBundle> {
  try {
    const stats = await fs.stat(certificatesPath);
    const files = stats.isDirectory() ? await pickFiles(certificatesPath) : [certificatesPath];
    if (files.length === 0)
      return { ok: false, reason: `CERTIFICATES_PATH ${certificatesPath} holds no ca.crt, ca.pem, *.crt or *.pem` };
    const certificates: string[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = (await readBoundedFile(file, { maxBytes: MAX_CA_FILE_BYTES })).toString('utf8');
      } catch (error) {
        return { ok: false, reason: `cannot read the CA at CERTIFICATES_PATH: ${file}: ${describeReadError(error)}` };
      }
      const found = text.match(PEM_CERTIFICATE);
      if (!found) return { ok: false, reason: `CERTIFICATES_PATH: ${file} holds no PEM certificate` };
      certificates.push(...found);
    }
    return { ok: true, pem: `${certificates.join('\n')}\n` };
  } catch (error) {
    // Expected: ENOENT (certificates not mounted), EACCES.
    const code = errnoCode(error);
    const why =
      code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    return { ok: false, reason: `cannot read the CA at CERTIFICATES_PATH ${certificatesPath}: ${why}` };
  }
}

async function pickFiles(dir: string): Promise<string[]> {
  const names = (await fs.readdir(dir)).filter((name) => !name.startsWith('.')).sort();
  const preferred = PREFERRED_NAMES.find((name) => names.includes(name));
  const chosen = preferred ? [preferred] : names.filter((name) => name.endsWith('.crt') || name.endsWith('.pem'));
  const files: string[] = [];
  for (const name of chosen) {
    const file = path.join(dir, name);
    if ((await fs.stat(file)).isFile()) files.push(file);
  }
  return files;
}
