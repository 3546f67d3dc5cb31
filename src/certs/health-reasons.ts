// When the cert initializer needs a person, in the words GET /health shows.

import type { CertificatesStatus } from './status.ts';

/** A certificate not signed within this long means the signer (cert-manager, an operator) is stuck. */
export const CERTIFICATE_WAIT_LIMIT_MS = 5 * 60_000;

export function certificateHealthReasons(status: CertificatesStatus): string[] {
  if (status.state === 'failed') return [`the cert initializer failed: ${status.reason}`];
  if (status.state !== 'waiting' || status.forMs <= CERTIFICATE_WAIT_LIMIT_MS) return [];
  return [
    `the signed certificate has been awaited for ${Math.round(status.forMs / 60_000)} min; is the CSR being signed?`,
  ];
}
