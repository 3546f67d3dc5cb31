// What the cert initializer reports about itself under /health.

export type CertificatesState = 'waiting' | 'ready' | 'failed';

export interface CertificatesStatus {
  readonly state: CertificatesState;
  readonly reason: string;
  readonly csrPath: string;
  readonly certPath: string;
  /** While the CSR is served. */
  readonly port?: number;
  readonly notAfter?: string;
  /** Wall clock, for display; forMs is how long the state has lasted, on the monotonic clock. */
  readonly since: string;
  readonly forMs: number;
}
