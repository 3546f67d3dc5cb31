// Reads the API's TLS files, so the server can swap them without dropping its
// listener when a Secret rotates them (fs events) or on SIGHUP.

import fs from 'node:fs';
import path from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import type { TlsConfig } from '../config/config.ts';
import { describeReadError, MiB, readBoundedFileSync } from '../files/bounded-read.ts';

/** A certificate chain, a key or a client-CA bundle is a few KiB; a system-wide CA bundle about 220 KiB. */
const MAX_TLS_FILE_BYTES = MiB;

export function readTlsMaterial(tls: TlsConfig): SecureContextOptions {
  const read = (file: string, flag: string): Buffer => {
    try {
      return readBoundedFileSync(file, { maxBytes: MAX_TLS_FILE_BYTES });
    } catch (error) {
      // A device or FIFO planted at the path is refused before any read (and never blocks).
      const { code } = error as NodeJS.ErrnoException;
      throw new Error(`${flag} ${file}: ${code === 'ENOTREG' || code === 'EFBIG' ? describeReadError(error) : (code ?? (error as Error).message)}`);
    }
  };
  return {
    cert: read(tls.certFile, '--tls-cert'),
    key: read(tls.keyFile, '--tls-key'),
    ...(tls.clientCaFile ? { ca: read(tls.clientCaFile, '--tls-client-ca') } : {}),
  };
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
