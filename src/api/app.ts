// The HTTP API as a Hono app, built apart from any server so tests and
// runtimes can serve it as they like (server.ts does it for Node).

import { Hono } from 'hono/tiny';
import type { Context } from 'hono';
import type { Logger } from '../log/logger.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import { StartBlockedError } from '../supervisor/supervisor.ts';
import { createAudit, isUnixSocketRequest } from './audit.ts';
import { requireClientCertificate } from './client-auth.ts';
import { parsePassableSignal } from '../config/signals.ts';
import { ApiError, errorBody } from '../http/errors.ts';
import { createHealth } from './health.ts';
import { hidePaths, isAuthenticated } from './hide-paths.ts';
import { renderMetrics } from './metrics.ts';
import type { CertificatesStatus } from '../certs/status.ts';
import type { KeystoreMetrics, KeystoreStatus } from '../keystore/status.ts';
import type { MountedConfig } from '../mounted-config/mounted-config.ts';
import { NO_CHECK } from '../readiness/es-check.ts';
import { createReadiness, type Readiness, type ReadyAnswer } from '../readiness/readiness.ts';

export interface ApiDeps {
  readonly name: string;
  readonly supervisor: Supervisor;
  readonly log: Logger;
  readonly keystoreStatus?: () => KeystoreStatus;
  readonly keystoreMetrics?: () => KeystoreMetrics;
  readonly certificatesStatus?: () => CertificatesStatus;
  /** Log lines the stdout writer dropped so far. */
  readonly logLinesDropped?: () => number;
  /** Mutual TLS is on: every route but the probes (GET /health, GET /NAME/ready) needs a valid client certificate. */
  readonly requireClientCertificates?: boolean;
  /** GET /NAME/ready; without it, the process state alone decides. */
  readonly readiness?: Readiness;
  /** --config-path: its checksum in the status, and the guard of start?config=SHA. */
  readonly mountedConfig?: MountedConfig;
}

/** How long a mutation's answer waits for its state to reach the disk; a disk that hangs longer gets a warning, not a hung answer. */
const STATE_WRITE_WAIT_MS = 10_000;
/** A sha256 as hex, the only form `?config=` takes. */
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The API takes no request bodies; this much is tolerated from clients that always send one ("{}"). */
const BODY_LIMIT_BYTES = 1024;
/**
 * Mutations run one at a time, and each one waiting holds its connection. Past
 * this many, another is answered 503 at once instead of queued, so waiting
 * mutations can never take every connection of the Unix socket (32) or the TCP
 * API (64): reads (`ctl status`, the kubelet's /health) always get through.
 */
export const MAX_WAITING_MUTATIONS = 16;

type Handler = (c: Context) => Response | Promise<Response>;

/** What the probe routes answer, apart from Hono: server.ts answers them on a shorter path too (probe-shortcut.ts). */
export interface ProbeAnswers {
  /** `/NAME/ready`. */
  readonly readyPath: string;
  /** `authenticated`: the client proved who it is, and may see file paths. */
  health(authenticated: boolean): { readonly status: 200 | 503; readonly body: unknown };
  ready(): Promise<{ readonly status: 200 | 503; readonly body: ReadyAnswer }>;
}

export type Api = Hono & { readonly probes: ProbeAnswers };

export function createApi(deps: ApiDeps): Api {
  const { supervisor } = deps;
  const app = new Hono();
  const json = (c: Context, status: 200 | 202 | 503, body: unknown) => c.json(body, status);
  const audit = createAudit(deps.log);
  const healthOf = createHealth({ ...deps, configProblem: () => deps.mountedConfig?.problem() });
  const readiness = deps.readiness ?? createReadiness({ name: deps.name, supervisor, log: deps.log, check: NO_CHECK });
  const probes: ProbeAnswers = {
    readyPath: `/${deps.name}/ready`,
    health(authenticated) {
      const { httpStatus, body } = healthOf();
      // Open to anyone who reaches the port: no file paths, unless the client proved who it is.
      return { status: httpStatus, body: authenticated ? body : hidePaths(body) };
    },
    async ready() {
      const answer = await readiness.probe();
      return { status: answer.ready ? 200 : 503, body: answer };
    },
  };
  /** The process's status, and the mounted configuration's checksum beside it. */
  const statusBody = () => ({
    ...supervisor.status(),
    config: deps.mountedConfig ? deps.mountedConfig.status() : null,
  });
  let waitingMutations = 0;
  // Logged with who asked before anything happens; refused at once while shutting down, never queued behind the shutdown.
  // A kill is never turned away as busy: it does not queue behind the others, it ends them. A signal does not queue
  // either, and is sent during a shutdown too: a thread dump of a process that will not stop is when one is wanted.
  const mutation =
    (handler: Handler, kind: 'queued' | 'kill' | 'signal' = 'queued'): Handler =>
    async (c) => {
      audit.mutation(c);
      if (kind !== 'signal' && supervisor.isShuttingDown())
        throw new ApiError(503, 'shutting_down_exception', 'the manager is shutting down');
      if (kind !== 'queued') return handler(c);
      if (waitingMutations >= MAX_WAITING_MUTATIONS) {
        throw new ApiError(
          503,
          'busy_exception',
          `${waitingMutations} requests to change the process are already waiting; this one was not queued: try again once they finish`,
        );
      }
      waitingMutations++;
      try {
        return await handler(c);
      } finally {
        waitingMutations--;
      }
    };

  const routes: Record<string, { method: 'GET' | 'POST'; handler: Handler }> = {
    '/health': { method: 'GET', handler: (c) => health(c) },
    [`/${deps.name}/status`]: { method: 'GET', handler: (c) => json(c, 200, statusBody()) },
    [`/${deps.name}/ready`]: { method: 'GET', handler: (c) => ready(c) },
    [`/${deps.name}/start`]: { method: 'POST', handler: mutation((c) => start(c)) },
    [`/${deps.name}/stop`]: {
      method: 'POST',
      handler: mutation(async (c) => (await supervisor.stop(), settled(c, 200))),
    },
    [`/${deps.name}/kill`]: {
      method: 'POST',
      handler: mutation(async (c) => (await supervisor.kill(), settled(c, 200)), 'kill'),
    },
    [`/${deps.name}/signal/:sig`]: { method: 'POST', handler: mutation((c) => signal(c), 'signal') },
    [`/${deps.name}/restart`]: { method: 'POST', handler: mutation((c) => restart(c)) },
    '/keystore/status': { method: 'GET', handler: (c) => keystoreStatus(c) },
    '/metrics': {
      method: 'GET',
      handler: (c) =>
        c.text(
          renderMetrics(deps.name, supervisor, deps.keystoreMetrics?.(), deps.logLinesDropped?.(), readiness.gauge()),
          200,
          { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' },
        ),
    },
  };

  const health = (c: Context) => {
    const { status, body } = probes.health(isAuthenticated(c));
    return json(c, status, body);
  };

  const ready = async (c: Context) => {
    const { status, body } = await probes.ready();
    return json(c, status, body);
  };

  /**
   * `?config=SHA`: the start happens only if the mounted configuration, checksummed
   * again in the supervisor's turn (nothing runs between the check and the start), is SHA.
   */
  const configGuard = (c: Context): (() => Promise<void>) | undefined => {
    const wanted = c.req.query('config');
    if (wanted === undefined) return undefined;
    const sha = wanted.toLowerCase();
    if (!SHA256_HEX.test(sha))
      throw new ApiError(
        400,
        'illegal_argument_exception',
        'config must be the sha256 of the mounted configuration: 64 hexadecimal digits',
      );
    return async () => {
      const mounted = deps.mountedConfig;
      if (!mounted)
        throw new ApiError(
          409,
          'config_mismatch_exception',
          `the mounted configuration is unknown (no --config-path), not ${sha}`,
        );
      const current = await mounted.refresh();
      if (current.sha256 !== sha) {
        const reason = `the mounted configuration is ${current.sha256 ?? `not checksummed (${mounted.problem() ?? 'unreadable'})`}, not ${sha}`;
        // A refusal someone may be waiting on (an orchestrator whose Secret has not arrived yet): worth a look.
        deps.log.warn(`${c.req.method} ${c.req.path} refused: ${reason}`, { 'event.action': 'config-mismatch' });
        throw new ApiError(409, 'config_mismatch_exception', reason);
      }
    };
  };

  const start = async (c: Context) => {
    const outcome = await supervisor.start('start requested', configGuard(c)).catch(rethrowBlocked);
    if (outcome.kind === 'spawnFailed') throw new ApiError(500, 'spawn_exception', outcome.reason);
    return settled(c, outcome.kind === 'alreadyRunning' ? 200 : 202);
  };

  const restart = async (c: Context) => {
    const outcome = await supervisor.restart(configGuard(c)).catch(rethrowBlocked);
    if (outcome.kind === 'spawnFailed') throw new ApiError(500, 'spawn_exception', outcome.reason);
    // A kill that overtook the restart answers like a stop: 200 with the killed status.
    return settled(c, outcome.kind === 'killedDuringRestart' ? 200 : 202);
  };

  // A mutation answers once its state is on disk, or with a warning once an attempt to put it there failed: the
  // operator learns at once that a container restart now would not know this stop (the writer keeps trying).
  const settled = async (c: Context, httpStatus: 200 | 202) => {
    const saved = await supervisor.stateSaved(STATE_WRITE_WAIT_MS);
    const status = statusBody();
    if (saved === 'saved') return json(c, httpStatus, status);
    const intent = status.desired === 'stopped' ? 'stop' : 'start';
    const warning =
      saved === 'failed'
        ? `the state file cannot be written (${supervisor.stateFileError() ?? 'failed'}): a container restart now would not know this ${intent}; retrying until it is written`
        : `the state file is still being written after ${STATE_WRITE_WAIT_MS / 1000} s (a slow disk): a container restart now might not know this ${intent}`;
    return json(c, httpStatus, { ...status, warnings: [warning] });
  };

  // To the main pid only, as --forward-signals does: the signals that may be sent are the ones a JVM handles, and a
  // group-wide one would also reach what does not (a shell, a native helper), where SIGQUIT's default action is to
  // dump core and die.
  const signal = (c: Context) => {
    const parsed = parsePassableSignal(c.req.param('sig') ?? '');
    if (!parsed.ok)
      throw new ApiError(
        400,
        'illegal_argument_exception',
        `the signal must be ${parsed.expected.replaceAll('/NAME/', `/${deps.name}/`)}`,
      );
    const pid = supervisor.forwardSignal(parsed.value, `requested by ${c.req.method} ${c.req.path}`);
    if (pid === null)
      throw new ApiError(
        409,
        'process_not_running_exception',
        `${deps.name} is ${supervisor.status().state}: no process to send ${parsed.value} to`,
      );
    return c.json({ name: deps.name, signal: parsed.value, pid }, 200);
  };

  const keystoreStatus = (c: Context) => {
    if (!deps.keystoreStatus)
      throw new ApiError(404, 'resource_not_found_exception', 'the keystore updater is disabled');
    return c.json(deps.keystoreStatus(), 200);
  };

  app.use(async function refuseBodies(c, next) {
    const length = Number(c.req.header('content-length') ?? 0);
    if (length > BODY_LIMIT_BYTES || c.req.header('transfer-encoding')) {
      // Close: whatever of the body is still on its way must not be read as the next request.
      throw new ApiError(
        413,
        'request_entity_too_large_exception',
        `this API takes no request body (at most ${BODY_LIMIT_BYTES} bytes are tolerated)`,
        { Connection: 'close' },
      );
    }
    return next();
  });
  if (deps.requireClientCertificates) {
    const clientAuth = requireClientCertificate([`/${deps.name}/ready`]);
    // The Unix socket is mode 0600 inside the container: reaching it is the credential.
    app.use(async function requireClientCertificateOverTcp(c, next) {
      return isUnixSocketRequest(c) ? next() : clientAuth(c, next);
    });
  }
  for (const [path, route] of Object.entries(routes)) {
    app.on(route.method, path, route.handler);
    app.all(path, () => {
      throw new ApiError(405, 'method_not_allowed_exception', `${path} accepts ${route.method} only`, {
        Allow: route.method,
      });
    });
  }
  app.notFound((c) =>
    c.json(errorBody(404, 'resource_not_found_exception', `no route ${c.req.method} ${c.req.path}`), 404),
  );
  app.onError((error, c) => {
    if (error instanceof ApiError) {
      if (error.status === 401 || error.status === 403) audit.refused(c, error.status, error.message);
      for (const [header, value] of Object.entries(error.headers)) c.header(header, value);
      return c.json(errorBody(error.status, error.type, error.message), error.status);
    }
    deps.log.error(`request ${c.req.method} ${c.req.path} failed: ${(error as Error).stack}`, {
      'event.action': 'api-error',
    });
    return c.json(errorBody(500, 'internal_error', 'internal error; see the manager log'), 500);
  });
  return Object.assign(app, { probes });
}

function rethrowBlocked(error: unknown): never {
  if (error instanceof StartBlockedError) throw new ApiError(503, 'start_blocked_exception', error.message);
  throw error;
}
