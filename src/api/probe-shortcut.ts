// GET /health and GET /NAME/ready straight from node:http, before Hono: a
// kubelet asks every few seconds, and in a manager that runs in V8's
// interpreter the Request, Headers, routing, middleware and Response around
// an answer cost about as much as the answer (issue 24, bench figure 12b).
// Same answers as the app's routes (app.ts's ProbeAnswers makes both), taken
// only when nothing could make the app answer otherwise: exactly GET on the
// path, no query, no request body announced (the app refuses bodies over a
// limit). Everything else, HEAD included, goes to the app.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Shortcut } from '../http/node-bridge.ts';
import { writeText } from '../http/node-bridge.ts';
import type { ProbeAnswers } from './app.ts';
import { isAuthenticatedSocket } from './hide-paths.ts';

const JSON_TYPE = 'application/json';

export function probeShortcut(probes: ProbeAnswers): Shortcut {
  const { readyPath } = probes;
  return (incoming, outgoing) => {
    if (incoming.method !== 'GET' || announcesBody(incoming)) return undefined;
    if (incoming.url === readyPath) return probes.ready().then((answer) => send(outgoing, answer));
    if (incoming.url === '/health') return answerHealth(probes, incoming, outgoing);
    return undefined;
  };
}

/** Async, so that a failure reaches the listener's error answer as a rejection. */
async function answerHealth(probes: ProbeAnswers, incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
  send(outgoing, probes.health(isAuthenticatedSocket(incoming.socket)));
}

/** Read from the raw list: `incoming.headers` builds an object of every header on first use. */
function announcesBody(incoming: IncomingMessage): boolean {
  const raw = incoming.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (
      (name.length === 14 && name.toLowerCase() === 'content-length') ||
      (name.length === 17 && name.toLowerCase() === 'transfer-encoding')
    )
      return true;
  }
  return false;
}

function send(outgoing: ServerResponse, answer: { readonly status: number; readonly body: unknown }): void {
  writeText(outgoing, answer.status, { 'content-type': JSON_TYPE }, JSON.stringify(answer.body));
}
