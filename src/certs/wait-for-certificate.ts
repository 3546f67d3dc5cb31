// Waits until --cert-path holds a certificate for our key. The path lives on
// a Kubernetes Secret volume: the kubelet writes a hidden timestamped
// directory and renames a `..data_tmp` symlink over `..data`, so the file we
// read is a symlink whose target changes without the file itself being
// written. Watching the directory catches that rename quickly; events are
// only a reason to look again (they can be missed, doubled, or arrive
// mid-swap), and a poll is the backstop. Only the file's content decides.

import fs from 'node:fs';
import path from 'node:path';
import { checkCertificate, type CertificateVerdict } from './certificate-check.ts';

export type AcceptedCertificate = Extract<CertificateVerdict, { ok: true }>;
export type RejectedCertificate = Extract<CertificateVerdict, { ok: false }>;

export interface WaitOptions {
  readonly certPath: string;
  readonly publicKeyDer: Buffer;
  readonly pollMs: number;
  readonly signal: AbortSignal;
  /** Called after each look that did not find a usable certificate. */
  readonly onRejected: (verdict: RejectedCertificate) => void;
  /** The directory could not be watched (it may not exist yet); polling carries on. */
  readonly onWatchFailed: (error: Error) => void;
}

export async function waitForCertificate(options: WaitOptions): Promise<AcceptedCertificate> {
  const { signal } = options;
  const directory = path.dirname(options.certPath);
  let shouldLook = true;
  let wake: (() => void) | undefined;
  const lookAgain = (): void => {
    shouldLook = true;
    wake?.();
  };

  let watcher: fs.FSWatcher | undefined;
  let hasReportedWatchFailure = false;
  const watchDirectory = (): void => {
    if (watcher) return;
    try {
      watcher = fs.watch(directory, { persistent: false }, lookAgain);
      // The directory went away (volume unmounted): fall back to the poll, which tries again.
      watcher.once('error', () => {
        watcher?.close();
        watcher = undefined;
      });
    } catch (error) {
      if (!hasReportedWatchFailure) options.onWatchFailed(error as Error);
      hasReportedWatchFailure = true;
    }
  };

  const poll = setInterval(lookAgain, options.pollMs);
  signal.addEventListener('abort', lookAgain, { once: true });
  try {
    for (;;) {
      signal.throwIfAborted();
      if (!shouldLook) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      shouldLook = false;
      watchDirectory();
      // Events that arrive while this look runs set shouldLook again, so a swap mid-read is looked at once more.
      const verdict = await checkCertificate(options.certPath, options.publicKeyDer);
      if (verdict.ok) return verdict;
      options.onRejected(verdict);
    }
  } finally {
    clearInterval(poll);
    signal.removeEventListener('abort', lookAgain);
    watcher?.close();
  }
}
