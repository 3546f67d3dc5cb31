// Who asked: every mutation is logged with the client's address and, under
// mutual TLS, its certificate's subject; a request over the Unix socket names
// the socket. Refused requests (401/403) are logged at warn, at most
// REFUSALS_PER_WINDOW per window, so a scanner cannot flood the log; one line
// at the window's end counts the rest.

import type { Context } from 'hono';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { LogFields, Logger } from '../log/logger.ts';
import { backgroundClock, type Clock } from '../clock/clock.ts';
import type { NodeBindings } from '../http/node-bridge.ts';

export const REFUSALS_PER_WINDOW = 10;
export const REFUSAL_WINDOW_MS = 60_000;

/** c.env of a request that came over the Unix socket (unix-socket.ts adds the path). */
export interface UnixSocketBindings extends NodeBindings {
  readonly unixSocketPath: string;
}

export function isUnixSocketRequest(c: Context): boolean {
  return typeof (c.env as Partial<UnixSocketBindings> | undefined)?.unixSocketPath === 'string';
}

/** ECS client fields and a short "from ..." for the message. */
function requesterOf(c: Context): { text: string; fields: LogFields } {
  const env = c.env as Partial<UnixSocketBindings> | undefined;
  if (env?.unixSocketPath) {
    // Node cannot read the peer's credentials (SO_PEERCRED); the socket's mode 0600 says who can
    // have connected: the manager's own user, or root.
    return {
      text: `the Unix socket ${env.unixSocketPath}`,
      fields: { 'client.address': `unix:${env.unixSocketPath}` },
    };
  }
  const socket = env?.incoming?.socket as TLSSocket | undefined;
  const address = socket?.remoteAddress ?? 'unknown';
  const subject = typeof socket?.getPeerCertificate === 'function' ? subjectOf(socket.getPeerCertificate()) : undefined;
  return {
    text: `${address}${subject ? ` (${subject})` : ''}`,
    fields: { 'client.address': address, 'client.port': socket?.remotePort, 'tls.client.subject': subject },
  };
}

function subjectOf(certificate: PeerCertificate | undefined): string | undefined {
  if (!certificate?.subject || Object.keys(certificate).length === 0) return undefined;
  return Object.entries(certificate.subject)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : value}`)
    .join(', ');
}

/** clock is injectable so a test can pass the window without waiting it out; its timer must not keep the manager alive on its own. */
export function createAudit(log: Logger, clock: Pick<Clock, 'monotonicMs' | 'setTimer'> = backgroundClock) {
  let windowStart = -Infinity;
  let loggedInWindow = 0;
  let suppressed = 0;
  let isFlushScheduled = false;
  // At the end of a window that refused more than it logged, one line says how many went unlogged.
  const flush = (): void => {
    isFlushScheduled = false;
    if (suppressed === 0) return;
    log.warn(`${suppressed} more refused requests were not logged (at most ${REFUSALS_PER_WINDOW} lines a minute)`, {
      'event.action': 'access-refused',
      'event.outcome': 'failure',
      'refusals.suppressed': suppressed,
    });
    suppressed = 0;
  };
  return {
    mutation(c: Context): void {
      const who = requesterOf(c);
      log.info(`${c.req.method} ${c.req.path} from ${who.text}`, {
        'event.action': 'audit',
        'http.request.method': c.req.method,
        'url.path': c.req.path,
        ...who.fields,
      });
    },
    refused(c: Context, status: number, reason: string): void {
      const at = clock.monotonicMs();
      if (at - windowStart > REFUSAL_WINDOW_MS) {
        windowStart = at;
        loggedInWindow = 0;
      }
      if (loggedInWindow >= REFUSALS_PER_WINDOW) {
        suppressed++;
        if (!isFlushScheduled) {
          isFlushScheduled = true;
          clock.setTimer(windowStart + REFUSAL_WINDOW_MS - at, flush);
        }
        return;
      }
      loggedInWindow++;
      const who = requesterOf(c);
      log.warn(`refused ${c.req.method} ${c.req.path} from ${who.text}: ${status} ${reason}`, {
        'event.action': 'access-refused',
        'event.outcome': 'failure',
        'http.request.method': c.req.method,
        'url.path': c.req.path,
        'http.response.status_code': status,
        ...who.fields,
      });
    },
  };
}
