// What GET /health answers: `ok`, or `degraded` with the reasons a person is
// needed, each one short and free of file paths (the body is open to anyone
// who can reach the port). A kubelet liveness probe must not restart the
// container for these: they are for the operator's eyes and alerts.

import type { Supervisor } from '../supervisor/supervisor.ts';
import type { ComponentStatus } from './component-status.ts';

/** A certificate not signed within this long means the signer (cert-manager, an operator) is stuck. */
export const CERTIFICATE_WAIT_LIMIT_MS = 5 * 60_000;
/** A sync runs a handful of elasticsearch-keystore calls of at most 120 s each; longer is stuck. */
export const KEYSTORE_SYNC_LIMIT_MS = 5 * 60_000;
/** An unexpected exit keeps /health degraded this long, twice the longest restart back-off: a crash loop shows even while the process is briefly up. */
export const CRASH_WINDOW_MS = 2 * 60_000;

/** Settled states in which a process that should run is not running. */
const NOT_RUNNING = new Set(['failed', 'exited', 'killed', 'stopped']);

export interface HealthSources {
  readonly name: string;
  readonly supervisor: Supervisor;
  readonly keystoreStatus?: () => ComponentStatus;
  readonly certificatesStatus?: () => ComponentStatus;
  /** Why the mounted configuration has no checksum, if it has none. */
  readonly configProblem?: () => string | undefined;
}

export function createHealth(sources: HealthSources) {
  const { supervisor, name } = sources;
  // The keystore status gives syncingForMs once a pass runs; before its first pass starts it has none, so /health notes when it first saw the sync.
  // Durations come from the monotonic clock: a wall-clock jump (an NTP step) must not make anything look stuck.
  let syncingSeenAt: number | null = null;

  const keystoreReasons = (keystore: ComponentStatus | null): string[] => {
    if (keystore?.state !== 'syncing') syncingSeenAt = null;
    if (!keystore) return [];
    if (keystore.state === 'failed') return [`the keystore updater failed: ${String(keystore.reason ?? 'see the log')}`];
    if (keystore.state !== 'syncing') return [];
    const forMs = typeof keystore.syncingForMs === 'number' ? keystore.syncingForMs : performance.now() - (syncingSeenAt ??= performance.now());
    return forMs > KEYSTORE_SYNC_LIMIT_MS ? [`a keystore sync has run for ${Math.round(forMs / 1000)} s (stuck?)`] : [];
  };

  const certificateReasons = (certificates: ComponentStatus | null): string[] => {
    if (certificates?.state === 'failed') return [`the cert initializer failed: ${String(certificates.reason ?? 'see the log')}`];
    if (certificates?.state !== 'waiting' || typeof certificates.forMs !== 'number') return [];
    const { forMs } = certificates;
    return forMs > CERTIFICATE_WAIT_LIMIT_MS ? [`the signed certificate has been awaited for ${Math.round(forMs / 60_000)} min; is the CSR being signed?`] : [];
  };

  const processReasons = (): string[] => {
    const process = supervisor.status();
    const reasons: string[] = [];
    if (process.desired === 'started' && NOT_RUNNING.has(process.state)) {
      const detail = process.state === 'failed' ? ': it could not be spawned' : process.state === 'exited' ? ': it exited unasked (restart back-off, or the manager exits)' : '';
      reasons.push(`${name} should run but is ${process.state}${detail}`);
    }
    const sinceCrash = supervisor.msSinceUnexpectedExit();
    if (sinceCrash !== null && sinceCrash < CRASH_WINDOW_MS && process.state !== 'exited') {
      reasons.push(`${name} exited unexpectedly ${Math.round(sinceCrash / 1000)} s ago (${process.restarts} restarts so far)`);
    }
    if (process.strays.length > 0) {
      reasons.push(`${process.strays.length} processes started by ${name} left its process group and outlive it (pids ${process.strays.join(' ')}); they are ended before the next start`);
    }
    const stateFileError = supervisor.stateFileError();
    if (stateFileError) reasons.push(`the state file cannot be written (${stateFileError}): a container restart would forget a stop`);
    return reasons;
  };

  return () => {
    const keystore = sources.keystoreStatus?.() ?? null;
    const certificates = sources.certificatesStatus?.() ?? null;
    const configProblem = sources.configProblem?.();
    const reasons = [...processReasons(), ...keystoreReasons(keystore), ...certificateReasons(certificates), ...(configProblem ? [`the mounted configuration has no checksum: ${configProblem}`] : [])];
    const body = { status: reasons.length > 0 ? 'degraded' : 'ok', reasons, process: supervisor.status(), keystore, certificates };
    // During the shutdown's drain the manager is alive and ES still serves: a liveness probe must not fail yet.
    return supervisor.isShuttingDown() && !supervisor.isDraining() ? { httpStatus: 503 as const, body: { ...body, status: 'shutting_down' } } : { httpStatus: 200 as const, body };
  };
}
