// What GET /health answers: `ok`, or `degraded` with the reasons a person is
// needed, each one short and free of file paths (the body is open to anyone
// who can reach the port). A kubelet liveness probe must not restart the
// container for these: they are for the operator's eyes and alerts. Each
// capability says for itself when it needs a person; this only gathers.

import { certificateHealthReasons } from '../certs/health-reasons.ts';
import type { CertificatesStatus } from '../certs/status.ts';
import { keystoreHealthReasons } from '../keystore/health-reasons.ts';
import { mountedConfigHealthReasons } from '../mounted-config/health-reasons.ts';
import type { KeystoreStatus } from '../keystore/status.ts';
import { supervisorHealthReasons } from '../supervisor/health-reasons.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import type { ProcessStatus } from '../supervisor/supervisor-interface.ts';

export interface HealthSources {
  readonly name: string;
  readonly supervisor: Supervisor;
  readonly keystoreStatus?: () => KeystoreStatus;
  readonly certificatesStatus?: () => CertificatesStatus;
  /** Why the mounted configuration has no checksum, if it has none. */
  readonly configProblem?: () => string | undefined;
}

/** The body of GET /health, as `ctl health` reads it too. */
export interface HealthBody {
  readonly status: 'ok' | 'degraded' | 'shutting_down';
  readonly reasons: readonly string[];
  readonly process: ProcessStatus;
  readonly keystore: KeystoreStatus | null;
  readonly certificates: CertificatesStatus | null;
}

export function createHealth(sources: HealthSources): () => { httpStatus: 200 | 503; body: HealthBody } {
  const { supervisor, name } = sources;
  return () => {
    const keystore = sources.keystoreStatus?.() ?? null;
    const certificates = sources.certificatesStatus?.() ?? null;
    const reasons = [
      ...supervisorHealthReasons(supervisor, name),
      ...(keystore ? keystoreHealthReasons(keystore) : []),
      ...(certificates ? certificateHealthReasons(certificates) : []),
      ...mountedConfigHealthReasons(sources.configProblem?.()),
    ];
    const body: HealthBody = {
      status: reasons.length > 0 ? 'degraded' : 'ok',
      reasons,
      process: supervisor.status(),
      keystore,
      certificates,
    };
    // During the shutdown's drain the manager is alive and ES still serves: a liveness probe must not fail yet.
    return supervisor.isShuttingDown() && !supervisor.isDraining()
      ? { httpStatus: 503, body: { ...body, status: 'shutting_down' } }
      : { httpStatus: 200, body };
  };
}
