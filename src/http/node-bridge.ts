// Serves a fetch-style app (Hono's app.fetch) from Node's http server: a
// request line and headers in, status, headers and a text body out. Written
// here rather than taken from @hono/node-server, which touches Node's global
// Response and Request when it loads and so pays for Node's whole fetch stack
// (fetch-lite.ts says how much). The API has no streams and no request bodies.

import { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody } from './errors.ts';

/** What handlers find in `c.env`: client-auth.ts reads the TLS socket from it. */
export interface NodeBindings {
  readonly incoming: IncomingMessage;
  readonly outgoing: ServerResponse;
}

type FetchApp = (request: Request, env: NodeBindings) => Response | Promise<Response>;

// The Host header is the client's to choose; the router only needs the path.
const ORIGIN = 'http://api.invalid';

/**
 * Answers a request the app need not see, or returns undefined to let the app answer it: probes come every few seconds
 * and cost a manager that runs in V8's interpreter more on Request/Response machinery than on their answer.
 */
export type Shortcut = (incoming: IncomingMessage, outgoing: ServerResponse) => Promise<void> | undefined;

/** `onError` hears of the bridge's own failures: app.ts already turns every handler error into an answer. */
export function nodeRequestListener(
  fetch: FetchApp,
  onError: (error: Error) => void,
  shortcut?: Shortcut,
): (incoming: IncomingMessage, outgoing: ServerResponse) => void {
  return (incoming, outgoing) => {
    void (shortcut?.(incoming, outgoing) ?? answer(fetch, incoming, outgoing)).catch((error: Error) => {
      onError(error);
      if (!outgoing.headersSent)
        writeText(
          outgoing,
          500,
          { 'content-type': 'application/json' },
          JSON.stringify(errorBody(500, 'internal_error', 'internal error; see the manager log')),
        );
      else outgoing.destroy();
    });
  };
}

async function answer(fetch: FetchApp, incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
  const target = requestTarget(incoming.url ?? '');
  if (target === undefined) {
    writeText(
      outgoing,
      400,
      { 'content-type': 'application/json', connection: 'close' },
      JSON.stringify(errorBody(400, 'parse_exception', `malformed request target ${JSON.stringify(incoming.url)}`)),
    );
    return;
  }
  const headerPairs: [string, string][] = [];
  for (let i = 0; i + 1 < incoming.rawHeaders.length; i += 2)
    headerPairs.push([incoming.rawHeaders[i]!, incoming.rawHeaders[i + 1]!]);
  // HEAD is answered as GET: Node writes the headers, Content-Length included, and drops the body.
  const method = incoming.method === 'HEAD' ? 'GET' : (incoming.method ?? 'GET');
  const request = new Request(ORIGIN + target, { method, headers: headerPairs });
  const response = await fetch(request, { incoming, outgoing });
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    headers[name] = name === 'set-cookie' ? response.headers.getSetCookie() : value;
  });
  writeText(outgoing, response.status, headers, await response.text());
}

/** Origin-form ("/es/status?x") as is; absolute-form ("http://host/es/status") reduced to its path. */
function requestTarget(url: string): string | undefined {
  if (url.startsWith('/')) return url;
  try {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  } catch {
    return undefined;
  }
}

/** The answer in one write, its length given (never chunked). */
export function writeText(
  outgoing: ServerResponse,
  status: number,
  headers: Record<string, string | string[]>,
  body: string,
): void {
  outgoing.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  outgoing.end(body);
}
