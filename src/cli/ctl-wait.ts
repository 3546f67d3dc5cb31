// `ctl wait started|stopped|ready`: for scripts that must not go on before the
// process is where they need it. It asks the manager's status (or readiness)
// every POLL_MS until the answer holds or the time is up: a handful of small
// reads a second at most, never a busy loop, and each read bounded so the
// deadline holds even when the manager stops answering.

import { setTimeout as sleep } from 'node:timers/promises';
import type { CtlRequest, WaitTarget } from '../config/config.ts';
import { CTL_EXIT } from '../config/ctl-help.ts';
import { STARTABLE_STATES, type State } from '../supervisor/states.ts';
import { readyLine, statusLine } from './ctl-lines.ts';
import { describeFailure, send } from './ctl-socket.ts';
import { monotonicMs } from '../clock/clock.ts';

const POLL_MS = 500;
/** A read that hangs is given up after this long, or sooner when the deadline is nearer, and asked again. */
const MAX_READ_MS = 10_000;
const MIN_READ_MS = 1_000;

type Out = Pick<NodeJS.WriteStream, 'write'>;

/** Has the answer reached the target? `stopped` is "no process runs": every state a start is allowed from. */
function holds(target: WaitTarget, body: any): boolean {
  if (target === 'ready') return body.ready === true;
  if (target === 'started') return body.state === 'started';
  return STARTABLE_STATES.includes(body.state as State);
}

export async function runWait(
  request: CtlRequest,
  wait: NonNullable<CtlRequest['wait']>,
  out: Out,
  err: Out,
): Promise<number> {
  const route = wait.target === 'ready' ? `/${request.name}/ready` : `/${request.name}/status`;
  const deadline = monotonicMs() + wait.timeoutMs;
  const describe = (body: any) => (wait.target === 'ready' ? readyLine(body) : statusLine(body));
  let lastSeen = 'no answer yet';
  let lastBody: string | undefined;
  for (;;) {
    const remaining = deadline - monotonicMs();
    try {
      const answer = await send(
        request.socketPath,
        'GET',
        route,
        Math.min(MAX_READ_MS, Math.max(MIN_READ_MS, remaining)),
      );
      let body: any;
      try {
        body = JSON.parse(answer.body);
      } catch {
        err.write(`process-manager ctl: GET ${route} answered ${answer.status} with no JSON\n`);
        return CTL_EXIT.REFUSED;
      }
      // /ready answers 503 with its reason while not ready: that is what is waited through. Any other error will not pass.
      if (body?.error) {
        err.write(`process-manager ctl: wait ${wait.target} refused (${answer.status}): ${body.error.reason}\n`);
        return CTL_EXIT.REFUSED;
      }
      lastSeen = describe(body);
      lastBody = answer.body;
      if (holds(wait.target, body)) {
        out.write(request.isJson ? withNewline(answer.body) : `${lastSeen}\n`);
        return CTL_EXIT.OK;
      }
    } catch (error) {
      const failure = describeFailure(request.socketPath, error);
      // No manager, or not ours to ask: waiting longer changes nothing. A manager that did not answer may yet.
      if (failure.exit !== CTL_EXIT.TEMPFAIL) {
        err.write(`process-manager ctl: ${failure.text}\n`);
        return failure.exit;
      }
      lastSeen = failure.text;
    }
    // The last read falls on the deadline itself: a timeout means "not by then", not "not some time before".
    const left = deadline - monotonicMs();
    if (left <= 0) break;
    await sleep(Math.min(POLL_MS, left));
  }
  if (request.isJson && lastBody !== undefined) out.write(withNewline(lastBody));
  err.write(
    `process-manager ctl: wait ${wait.target}: not reached within ${formatMs(wait.timeoutMs)}; last seen: ${lastSeen}\n`,
  );
  return CTL_EXIT.TEMPFAIL;
}

function withNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
