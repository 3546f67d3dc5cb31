// Reads and checks the API's TLS files, so the server can swap them without
// dropping its listener when a Secret rotates them (watched) or on SIGHUP.
// Checked, not just read: OpenSSL takes a client-CA file of garbage without a
// word (and then refuses every client), and its own errors name no file.

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import path from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import type { TlsConfig } from '../config/config.ts';
import { describeReadError, MiB, readBoundedFileSync } from '../files/bounded-read.ts';
import { errnoCode } from '../files/errno.ts';
import { watchMountedDirectory } from '../files/watch-mounted-directory.ts';

/** A TLS file that cannot serve; the message names the flag and the file. */
export class TlsMaterialError extends Error {
  override readonly name = 'TlsMaterialError';
}

/** A certificate chain, a key or a client-CA bundle is a few KiB; a system-wide CA bundle about 220 KiB. */
const MAX_TLS_FILE_BYTES = MiB;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

export function readTlsMaterial(tls: TlsConfig): SecureContextOptions {
  const cert = readPem(tls.certFile, '--tls-cert');
  const key = readPem(tls.keyFile, '--tls-key');
  const certificates = parseCertificates(cert, '--tls-cert', tls.certFile);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new TlsMaterialError(`--tls-key ${tls.keyFile}: not a usable private key (${(error as Error).message})`);
  }
  if (!certificates[0]!.checkPrivateKey(privateKey)) {
    throw new TlsMaterialError(
      `--tls-key ${tls.keyFile} does not belong to the certificate in --tls-cert ${tls.certFile}`,
    );
  }
  if (!tls.clientCaFile) return { cert, key };
  const ca = readPem(tls.clientCaFile, '--tls-client-ca');
  parseCertificates(ca, '--tls-client-ca', tls.clientCaFile);
  return { cert, key, ca };
}

function readPem(file: string, flag: string): string {
  try {
    return readBoundedFileSync(file, { maxBytes: MAX_TLS_FILE_BYTES }).toString('utf8');
  } catch (error) {
    // A device or FIFO planted at the path is refused before any read (and never blocks).
    const code = errnoCode(error);
    throw new TlsMaterialError(
      `${flag} ${file}: ${code === 'ENOTREG' || code === 'EFBIG' ? describeReadError(error) : (code ?? (error as Error).message)}`,
    );
  }
}

/** Every PEM certificate block of the file, each one parsed; at least one. */
function parseCertificates(pem: string, flag: string, file: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsMaterialError(`${flag} ${file}: no PEM certificate in it`);
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new TlsMaterialError(
        `${flag} ${file}: certificate ${index + 1} of ${blocks.length} cannot be read (${(error as Error).message})`,
      );
    }
  });
}

/** Cheap (a readdir and a stat per TLS file) and rare: it covers a lost event, and an idle manager does not wake. */
const BACKSTOP_MS = 600_000;

/**
 * Calls onChange once after each burst of changes to the TLS files. Their directories are watched, not the files:
 * that is what survives Kubernetes' `..data` symlink swap (which names none of the files), a directory deleted and
 * made again, and one that appears only later. A backstop check every 10 minutes calls it too when the files' stat
 * signature changed without an event.
 */
export function watchTlsFiles(tls: TlsConfig, onChange: () => void): () => void {
  const files = [tls.certFile, tls.keyFile, tls.clientCaFile].filter((f): f is string => !!f);
  const names = new Set(files.map((f) => path.basename(f)));
  const watches = [...new Set(files.map((f) => path.dirname(f)))].map((dir) =>
    // A Secret update touches several entries in a burst; reload once, after it.
    watchMountedDirectory(dir, onChange, {
      accept: (name) => names.has(name) || name.startsWith('..'),
      quietMs: 200,
      backstopMs: BACKSTOP_MS,
    }),
  );
  return () => {
    for (const watch of watches) watch.close();
  };
}
