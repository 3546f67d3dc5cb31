// `process-manager ctl`: one request to the running manager over its Unix
// socket, for people and scripts inside the container (supervisorctl, s6-svc).
// Its output is for a terminal, not the log: a human line on stdout, or the
// API's JSON with --json, and problems on stderr.

import http from 'node:http';
import type { CtlAction, CtlRequest } from '../config/config.ts';
import { errnoCode } from '../files/errno.ts';

/** Exit statuses of `ctl` (69 is sysexits' EX_UNAVAILABLE). */
const CTL_EXIT = { OK: 0, REFUSED: 1, UNAVAILABLE: 69 } as const;

/** Reads answer at once; a stop waits for the stop timeout and the group to go, however long that is. */
const READ_TIMEOUT_MS = 30_000;

export async function runCtl(request: CtlRequest, out = process.stdout, err = process.stderr): Promise<number> {
  const { method, route: bare } = routeOf(request.action, request.name);
  const route = request.configSha === undefined ? bare : `${bare}?config=${encodeURIComponent(request.configSha)}`;
  let answer: { status: number; body: string };
  try {
    answer = await send(request.socketPath, method, route);
  } catch (error) {
    err.write(`process-manager ctl: no manager answers on ${request.socketPath}: ${errnoCode(error) ?? (error as Error).message}\n`);
    return CTL_EXIT.UNAVAILABLE;
  }
  const isSuccess = answer.status >= 200 && answer.status < 300;
  if (request.isJson) {
    out.write(answer.body.endsWith('\n') ? answer.body : `${answer.body}\n`);
    return isSuccess ? CTL_EXIT.OK : CTL_EXIT.REFUSED;
  }
  let body: any;
  try {
    body = JSON.parse(answer.body);
  } catch {
    err.write(`process-manager ctl: ${method} ${route} answered ${answer.status} with no JSON\n`);
    return CTL_EXIT.REFUSED;
  }
  if (body?.error) {
    err.write(`process-manager ctl: ${request.action} refused (${answer.status}): ${body.error.reason}\n`);
    return CTL_EXIT.REFUSED;
  }
  out.write(`${request.action === 'health' ? healthLine(body) : statusLine(body)}\n`);
  return isSuccess ? CTL_EXIT.OK : CTL_EXIT.REFUSED;
}

function routeOf(action: CtlAction, name: string): { method: 'GET' | 'POST'; route: string } {
  if (action === 'health') return { method: 'GET', route: '/health' };
  if (action === 'status') return { method: 'GET', route: `/${name}/status` };
  return { method: 'POST', route: `/${name}/${action}` };
}

/** "es started, pid 42, since 2026-…; last exit: code 0 at …" */
function statusLine(status: any): string {
  const pid = status.pid !== null && status.pid !== undefined ? `, pid ${status.pid}` : '';
  const exit = status.lastExit;
  const lastExit = exit ? `${exit.code !== null ? `code ${exit.code}` : `signal ${exit.signal}`} at ${exit.at}` : 'none';
  const desired = status.desired === 'stopped' && status.state !== 'stopped' && status.state !== 'killed' ? ' (desired: stopped)' : '';
  return `${status.name} ${status.state}${pid}, since ${status.since}${desired}; last exit: ${lastExit}`;
}

function healthLine(health: any): string {
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
