// Cert initializer: makes the node's private key and CSR, serves the CSR, and
// waits for the signed certificate before Elasticsearch may start.
// (Interface agreed with main.ts; the implementation lives beside it.)

import type { CertInitializerConfig } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';

export interface CertificatesStatus {
  readonly state: string;
  readonly [field: string]: unknown;
}

export interface CertInitializer {
  /** Resolves once a valid certificate matching the key is in place; rejects with a StartupError (exit 78) when it never can be. */
  readonly ready: Promise<void>;
  /** Why the process may not start yet; undefined once ready. */
  blockedReason(): string | undefined;
  status(): CertificatesStatus;
  close(): Promise<void>;
}

export async function createCertInitializer(_config: CertInitializerConfig, _deps: { readonly log: Logger }): Promise<CertInitializer> {
  throw new Error('cert initializer not implemented yet');
}
