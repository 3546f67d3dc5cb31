// Waits until --cert-path holds a certificate for our key. The path lives on
// a Kubernetes Secret volume: the kubelet writes a hidden timestamped
// directory and renames a `..data_tmp` symlink over `..data`, so the file we
// read is a symlink whose target changes without the file itself being
// written. Watching the directory (or, until it exists, its nearest
// ancestor) catches that rename quickly; events are only a reason to look
// again (they can be missed, doubled, or arrive mid-swap), and a poll is the
// backstop. Only the file's content decides.

import path from 'node:path';
import { watchMountedDirectory } from '../files/watch-mounted-directory.ts';
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
  /** The directory could not be watched; polling carries on. */
  readonly onWatchFailed: (error: Error) => void;
}

export async function waitForCertificate(options: WaitOptions): Promise<AcceptedCertificate> {
  const { signal } = options;
  let shouldLook = true;
  let wake: (() => void) | undefined;
  const lookAgain = (): void => {
    shouldLook = true;
    wake?.();
  };
  let hasReportedWatchFailure = false;
  // The poll always looks: a certificate not valid yet becomes valid with no file changing.
  const watch = watchMountedDirectory(path.dirname(options.certPath), lookAgain, {
    accept: (name) => name === path.basename(options.certPath) || name.startsWith('..'),
    backstopMs: options.pollMs,
    hasChanged: async () => true,
    onWatchError: (error) => {
      if (!hasReportedWatchFailure) options.onWatchFailed(error);
      hasReportedWatchFailure = true;
    },
  });
  signal.addEventListener('abort', lookAgain, { once: true });
  try {
    await watch.ready;
    for (;;) {
      signal.throwIfAborted();
      if (!shouldLook) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      shouldLook = false;
      // Events that arrive while this look runs set shouldLook again, so a swap mid-read is looked at once more.
      const verdict = await checkCertificate(options.certPath, options.publicKeyDer);
      if (verdict.ok) return verdict;
      options.onRejected(verdict);
    }
  } finally {
    watch.close();
    signal.removeEventListener('abort', lookAgain);
  }
}
