// Reads and checks the API's TLS files, so the server can swap them without
// dropping its listener when a Secret rotates them (fs events) or on SIGHUP.
// Checked, not just read: OpenSSL takes a client-CA file of garbage without a
// word (and then refuses every client), and its own errors name no file.

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import type { TlsConfig } from '../config/config.ts';
import { describeReadError, MiB, readBoundedFileSync } from '../files/bounded-read.ts';
import { errnoCode } from '../files/errno.ts';

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

/**
 * Calls onChange (debounced) whenever anything changes in the directories
 * holding the TLS files. Watching the directories, not the files, is what
 * survives Kubernetes' `..data` symlink swap. Event-driven: no polling timer.
 */
export function watchTlsFiles(tls: TlsConfig, onChange: () => void): () => void {
  const files = [tls.certFile, tls.keyFile, tls.clientCaFile].filter((f): f is string => !!f);
  const dirs = new Set(files.map((f) => path.dirname(f)));
  const names = new Set(files.map((f) => path.basename(f)));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const changed = (_event: string, name: string | Buffer | null): void => {
    // Our files, a Secret's `..data` swap, or a name the platform did not report.
    const entry = name?.toString();
    if (entry && !names.has(entry) && !entry.startsWith('..')) return;
    clearTimeout(timer);
    // A Secret update touches several entries in a burst; reload once, after it.
    timer = setTimeout(onChange, 200);
  };
  const watchers = [...dirs].flatMap((dir) => {
    try {
      return [fs.watch(dir, { persistent: false }, changed)];
    } catch {
      return []; // SIGHUP still reloads
    }
  });
  return () => {
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
}
