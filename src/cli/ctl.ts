// `process-manager ctl`: one request to the running manager over its Unix
// socket, for people and scripts inside the container (supervisorctl, s6-svc).
// Its output is for a terminal, not the log: a human line on stdout, or the
// API's JSON with --json, and problems on stderr.

import fs from 'node:fs';
import http from 'node:http';
import type { CtlAction, CtlRequest } from '../config/config.ts';
import { errnoCode } from '../files/errno.ts';
import type { HealthBody } from '../api/health.ts';
import type { ProcessStatus } from '../supervisor/supervisor-interface.ts';

/** What ctl reads of an answer: a process status, /health's body, or an error in the API's shape. */
type Answer = Partial<ProcessStatus & HealthBody> & { readonly error?: { readonly type: string; readonly reason: string }; readonly warnings?: readonly string[] };

/** Exit statuses of `ctl`, after sysexits: 69 EX_UNAVAILABLE, 75 EX_TEMPFAIL (busy: try again), 77 EX_NOPERM. */
const CTL_EXIT = { OK: 0, REFUSED: 1, UNAVAILABLE: 69, BUSY: 75, NO_PERMISSION: 77 } as const;

/** Reads answer at once; a stop waits for the stop timeout and the group to go, however long that is. */
const READ_TIMEOUT_MS = 30_000;

export async function runCtl(request: CtlRequest, out = process.stdout, err = process.stderr): Promise<number> {
  const { method, route: bare } = routeOf(request.action, request.name);
  const route = request.configSha === undefined ? bare : `${bare}?config=${encodeURIComponent(request.configSha)}`;
  let answer: { status: number; body: string };
  try {
    answer = await send(request.socketPath, method, route);
  } catch (error) {
    const { exit, text } = describeFailure(request.socketPath, error);
    err.write(`process-manager ctl: ${text}\n`);
    return exit;
  }
  const isSuccess = answer.status >= 200 && answer.status < 300;
  if (request.isJson) {
    out.write(answer.body.endsWith('\n') ? answer.body : `${answer.body}\n`);
    return isSuccess ? CTL_EXIT.OK : CTL_EXIT.REFUSED;
  }
  let body: Answer;
  try {
    body = JSON.parse(answer.body);
  } catch {
    err.write(`process-manager ctl: ${method} ${route} answered ${answer.status} with no JSON\n`);
    return CTL_EXIT.REFUSED;
  }
  if (body?.error) {
    err.write(`process-manager ctl: ${request.action} refused (${answer.status}): ${body.error.reason}\n`);
    return body.error.type === BUSY_TYPE ? CTL_EXIT.BUSY : CTL_EXIT.REFUSED;
  }
  out.write(`${request.action === 'health' ? healthLine(body as HealthBody) : statusLine(body as ProcessStatus)}\n`);
  // A stop the state file does not hold yet, for one: worth a person's eyes.
  if (Array.isArray(body.warnings)) for (const warning of body.warnings) err.write(`process-manager ctl: warning: ${warning}\n`);
  return isSuccess ? CTL_EXIT.OK : CTL_EXIT.REFUSED;
}

/** The API's answer to a mutation while too many wait already (app.ts). */
const BUSY_TYPE = 'busy_exception';

/**
 * What the failure to get an answer means, in the words of what is true:
 * nothing there, a socket nobody listens on, a socket we may not open, or a
 * manager that is there but did not answer (busy, or exiting).
 */
function describeFailure(socketPath: string, error: unknown): { exit: number; text: string } {
  const code = errnoCode(error) ?? (error as Error).message;
  switch (code) {
    case 'ENOENT':
      return {
        exit: CTL_EXIT.UNAVAILABLE,
        text: `no socket at ${socketPath} (ENOENT): no manager runs with this --socket or --state-file, or it could not create the socket (its log says socket-unavailable)`,
      };
    case 'ECONNREFUSED': {
      const stat = fs.lstatSync(socketPath, { throwIfNoEntry: false });
      if (stat && !stat.isSocket()) {
        return { exit: CTL_EXIT.UNAVAILABLE, text: `${socketPath} is not a socket (ECONNREFUSED): a file is in the way, so the manager serves no socket there (its log says socket-unavailable)` };
      }
      return { exit: CTL_EXIT.UNAVAILABLE, text: `nobody listens on ${socketPath} (ECONNREFUSED): the manager that created it is gone` };
    }
    case 'EACCES':
    case 'EPERM':
      return { exit: CTL_EXIT.NO_PERMISSION, text: `permission denied on ${socketPath} (${code}): ${ownerOf(socketPath)}` };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ETIMEDOUT':
      return {
        exit: CTL_EXIT.BUSY,
        text: `the manager on ${socketPath} did not answer (${code}): it is busy (every connection taken by requests that wait) or exiting; try again`,
      };
    default:
      return { exit: CTL_EXIT.UNAVAILABLE, text: `no manager answers on ${socketPath}: ${code}` };
  }
}

/** Who may open the socket: its owner (mode 0600), or root. */
function ownerOf(socketPath: string): string {
  const uid = process.getuid?.();
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(socketPath);
  } catch {
    return `a directory on its path cannot be searched by uid ${uid}`;
  }
  return `the socket is mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}, owned by uid ${stat.uid}, and this is uid ${uid}: run ctl as uid ${stat.uid} or as root`;
}

function routeOf(action: CtlAction, name: string): { method: 'GET' | 'POST'; route: string } {
  if (action === 'health') return { method: 'GET', route: '/health' };
  if (action === 'status') return { method: 'GET', route: `/${name}/status` };
  return { method: 'POST', route: `/${name}/${action}` };
}

/** "es started, pid 42, since 2026-…; last exit: code 0 at …" */
function statusLine(status: ProcessStatus): string {
  const pid = status.pid !== null && status.pid !== undefined ? `, pid ${status.pid}` : '';
  const exit = status.lastExit;
  const lastExit = exit ? `${exit.code !== null ? `code ${exit.code}` : `signal ${exit.signal}`} at ${exit.at}` : 'none';
  const desired = status.desired === 'stopped' && status.state !== 'stopped' && status.state !== 'killed' ? ' (desired: stopped)' : '';
  const strays = Array.isArray(status.strays) && status.strays.length > 0 ? `; still running outside its process group: ${status.strays.join(' ')}` : '';
  return `${status.name} ${status.state}${pid}, since ${status.since}${desired}; last exit: ${lastExit}${strays}`;
}

function healthLine(health: HealthBody): string {
  const reasons = Array.isArray(health.reasons) && health.reasons.length > 0 ? `: ${health.reasons.join('; ')}` : '';
  return `${health.status}${reasons} | ${statusLine(health.process)}`;
}

function send(socketPath: string, method: string, route: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ socketPath, method, path: route, headers: { connection: 'close' } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    if (method === 'GET') request.setTimeout(READ_TIMEOUT_MS, () => request.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })));
    request.on('error', reject);
    request.end();
  });
}
