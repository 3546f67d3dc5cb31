// `process-manager ctl`: one request to the running manager over its Unix
// socket, for people and scripts inside the container (supervisorctl, s6-svc).
// Its output is for a terminal, not the log: a human line on stdout, or the
// API's JSON with --json, and problems on stderr.

import type { CtlAction, CtlRequest } from '../config/config.ts';
import { CTL_EXIT } from '../config/ctl-help.ts';
import { runWait } from './ctl-wait.ts';
import type { HealthBody } from '../api/health.ts';
import type { KeystoreStatus } from '../keystore/status.ts';
import type { ProcessStatus } from '../supervisor/supervisor-interface.ts';
import { healthLine, keystoreLine, signalLine, statusLine, type SignalSent } from './ctl-lines.ts';
import { describeFailure, send, type Answer } from './ctl-socket.ts';

type Out = Pick<NodeJS.WriteStream, 'write'>;

export async function runCtl(
  request: CtlRequest,
  out: Out = process.stdout,
  err: Out = process.stderr,
): Promise<number> {
  if (request.wait) return runWait(request, request.wait, out, err);
  const { method, route } = routeOf(request);
  let answer: Answer;
  try {
    answer = await send(request.socketPath, method, route);
  } catch (error) {
    const { exit, text } = describeFailure(request.socketPath, error);
    err.write(`process-manager ctl: ${text}\n`);
    return exit;
  }
  const isSuccess = answer.status >= 200 && answer.status < 300;
  // Prometheus text, not JSON: printed as it came, for a scrape by hand or a grep.
  if (request.isJson || (request.action === 'metrics' && isSuccess)) {
    out.write(answer.body.endsWith('\n') ? answer.body : `${answer.body}\n`);
    return isSuccess ? CTL_EXIT.OK : CTL_EXIT.REFUSED;
  }
  let body: Body;
  try {
    body = JSON.parse(answer.body);
  } catch {
    err.write(`process-manager ctl: ${method} ${route} answered ${answer.status} with no JSON\n`);
    return CTL_EXIT.REFUSED;
  }
  if (body?.error) {
    err.write(`process-manager ctl: ${request.action} refused (${answer.status}): ${body.error.reason}\n`);
    return body.error.type === BUSY_TYPE ? CTL_EXIT.TEMPFAIL : CTL_EXIT.REFUSED;
  }
  out.write(`${lineOf(request.action, body)}\n`);
  // A stop the state file does not hold yet, for one: worth a person's eyes.
  if (Array.isArray(body.warnings))
    for (const warning of body.warnings) err.write(`process-manager ctl: warning: ${warning}\n`);
  return isSuccess ? CTL_EXIT.OK : CTL_EXIT.REFUSED;
}

/** The API's answer to a mutation while too many wait already (app.ts). */
const BUSY_TYPE = 'busy_exception';

/** What ctl reads of an answer: the route's own body, or an error in the API's shape, and a mutation's warnings. */
type Body = (ProcessStatus | HealthBody | KeystoreStatus | SignalSent) & {
  readonly error?: { readonly type: string; readonly reason: string };
  readonly warnings?: readonly string[];
};

/** The line for each route's answer; every other action answers with a process status. */
function lineOf(action: CtlAction, body: Body): string {
  switch (action) {
    case 'health':
      return healthLine(body as HealthBody);
    case 'keystore':
      return keystoreLine(body as KeystoreStatus);
    case 'signal':
      return signalLine(body as SignalSent);
    default:
      return statusLine(body as ProcessStatus);
  }
}

function routeOf(request: CtlRequest): { method: 'GET' | 'POST'; route: string } {
  const { action, name } = request;
  switch (action) {
    case 'health':
      return { method: 'GET', route: '/health' };
    case 'keystore':
      return { method: 'GET', route: '/keystore/status' };
    case 'metrics':
      return { method: 'GET', route: '/metrics' };
    case 'status':
      return { method: 'GET', route: `/${name}/status` };
    case 'signal':
      return { method: 'POST', route: `/${name}/signal/${encodeURIComponent(request.signal ?? '')}` };
    default: {
      const route = `/${name}/${action}`;
      return {
        method: 'POST',
        route: request.configSha === undefined ? route : `${route}?config=${encodeURIComponent(request.configSha)}`,
      };
    }
  }
}
