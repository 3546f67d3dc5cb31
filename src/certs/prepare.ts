// The cert initializer as main holds it from before the API listens (issue
// 20): its status (for /health) and its hold on starts (for POST start) exist
// at once, while its work, with node:crypto and the CSR port, loads and begins
// with start(), once the API answers. Until then it reads as the initializer
// does when it begins: waiting, looking for an existing key and certificate.

import { monotonicMs } from '../clock/clock.ts';
import type { CertInitializerConfig } from '../config/config.ts';
import { StartupError } from '../config/errors.ts';
import { EXIT } from '../config/options.ts';
import type { CertDeps, CertInitializer } from './index.ts';
import type { CertificatesStatus } from './status.ts';

export interface PreparedCertInitializer extends CertInitializer {
  /** Loads the initializer and starts its work; once. */
  start(): void;
}

export function prepareCertInitializer(config: CertInitializerConfig, deps: CertDeps): PreparedCertInitializer {
  const since = new Date().toISOString();
  const sinceMs = monotonicMs();
  let initializer: CertInitializer | undefined;
  let starting: Promise<CertInitializer> | undefined;
  let isClosed = false;
  let begin: () => void = () => {};
  const begun = new Promise<void>((resolve) => (begin = resolve));
  const start = (): void => {
    if (starting || isClosed) return;
    starting = import('./index.ts')
      .then(({ createCertInitializer }) => createCertInitializer(config, deps))
      .then((created) => (initializer = created));
    begin();
  };
  const ready = begun
    .then(() => starting as Promise<CertInitializer>)
    .then(
      (created) => created.ready,
      (error: Error) => {
        throw new StartupError(`cert initializer failed: ${error.message}`, EXIT.INTERNAL);
      },
    );
  // main awaits `ready` only after the API is up; an early failure must not count as unhandled meanwhile.
  ready.catch(() => {});
  const notStarted = (): CertificatesStatus => ({
    state: 'waiting',
    reason: 'looking for an existing key and certificate',
    csrPath: config.csrPath,
    certPath: config.certPath,
    since,
    forMs: Math.round(monotonicMs() - sinceMs),
  });
  return {
    start,
    ready,
    blockedReason: () =>
      initializer ? initializer.blockedReason() : 'waiting for the signed certificate (--cert-path)',
    status: () => initializer?.status() ?? notStarted(),
    close: async () => {
      isClosed = true;
      await (await starting?.catch(() => undefined))?.close();
    },
  };
}
