// `--ready-check http`: GET / on ENDPOINT with the keystore updater's CA and
// credentials, on one kept connection, the request written and the answer's
// head read here. A check wants a status code: node:http's client built a
// ClientRequest, went through its agent, streamed an IncomingMessage and armed
// an AbortSignal whose timer fired seconds later, and in a manager that runs
// in V8's interpreter that cost more CPU than the probe that asked for it
// (issue 24, bench figure 12a: 0.9 of 1.7 ms a probe).
//
// The answer is read to its end only when its length is known (Content-Length,
// at most MAX_ANSWER_BYTES): then the connection is used again. Any other
// answer (chunked, read to close, too long, `Connection: close`, HTTP/1.0)
// gives its status and the connection is closed; the next check opens another.

import { Buffer } from 'node:buffer';
import net from 'node:net';
import type { SecureContext } from 'node:tls';
import { monotonicMs } from '../clock/clock.ts';
import type { KeystoreConfig } from '../config/config.ts';
import { loadCaBundle } from '../files/ca-bundle.ts';
import { readSecret } from '../files/secrets.ts';
import type { CheckResult, EsCheck } from './check.ts';

/** ES's `GET /` answer is a few hundred bytes: a longer one is not read, and its connection not kept. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** More than any ES or proxy sends before the body. */
const MAX_HEAD_BYTES = 16 * 1024;
/** A connection unused this long is closed: beyond a probe period (5 to 10 s), short of a minute. */
const KEEP_IDLE_MS = 30_000;
/** The CA is read again this often while checks succeed (a rotation keeps the old CA valid for a while), and after any failure. */
const CA_REREAD_MS = 60_000;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})/;

type Outcome =
  | { readonly status: number }
  | { readonly error: NodeJS.ErrnoException; readonly reused: boolean }
  | { readonly timedOut: true };

/** One request on the wire and what has come back of its answer. */
interface Exchange {
  readonly reused: boolean;
  readonly resolve: (outcome: Outcome) => void;
  readonly timer: ReturnType<typeof setTimeout>;
  head: Buffer | undefined;
  /** Set once the head is read: the body bytes still to come. */
  bodyLeft: number;
  status: number;
}

interface Connection {
  readonly socket: net.Socket;
  readonly idle: ReturnType<typeof setTimeout>;
  exchange: Exchange | undefined;
}

function notAnswering(summary: string, detail = summary): CheckResult {
  return { ok: false, summary, detail };
}

export function httpCheck(es: KeystoreConfig, timeoutMs: number): EsCheck {
  const url = new URL(`${es.endpoint}/`);
  const isHttps = url.protocol === 'https:';
  // URL keeps an IPv6 literal in brackets: a socket wants it without.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (isHttps ? 443 : 80));
  /** SNI and the name checked in ES's certificate; an IP address is checked as such and sent as no name. */
  const servername = net.isIP(host) ? undefined : host;
  /** node:tls, loaded with the first check: at start-up it would cost the API before /health answers (issue 20). */
  let tls: typeof import('node:tls') | undefined;
  let context: SecureContext | undefined;
  let contextCa: string | undefined;
  /** When the CA was last read; a failed check forgets it, so a rotated CA is read again at once. */
  let caReadAt = -Infinity;
  let connection: Connection | undefined;
  let request: Buffer | undefined;
  let requestAuth: string | undefined;
  let running: Promise<CheckResult> | undefined;
  /** After close(), nothing connects again, not even the retry of a check that close() cut. */
  let closed = false;

  /** The TLS context for ES, made again only when the CA's text changes. */
  const contextFor = async (): Promise<{ readonly ok: true } | { readonly failed: CheckResult }> => {
    if (!isHttps || (context && monotonicMs() - caReadAt < CA_REREAD_MS)) return { ok: true };
    const ca = await loadCaBundle(es.certificatesPath);
    caReadAt = monotonicMs();
    if (!ca.ok)
      return {
        failed: notAnswering('the CA to trust Elasticsearch with cannot be read (see the manager log)', ca.reason),
      };
    if (!context || contextCa !== ca.pem) {
      tls ??= await import('node:tls');
      context = tls.createSecureContext({ ca: ca.pem });
      contextCa = ca.pem;
      // A connection trusted under the previous CA is not asked again.
      drop(connection);
    }
    return { ok: true };
  };

  /** The request's bytes, made again only when the credentials change. */
  const requestFor = (password: string | undefined): Buffer => {
    const auth =
      es.username === undefined ? '' : `Basic ${Buffer.from(`${es.username}:${password ?? ''}`).toString('base64')}`;
    if (request && auth === requestAuth) return request;
    requestAuth = auth;
    request = Buffer.from(
      `GET / HTTP/1.1\r\nHost: ${url.host}\r\nAccept: application/json\r\n${auth ? `Authorization: ${auth}\r\n` : ''}\r\n`,
      'latin1',
    );
    return request;
  };

  function drop(dropped: Connection | undefined): void {
    if (!dropped) return;
    clearTimeout(dropped.idle);
    dropped.socket.destroy();
    if (connection === dropped) connection = undefined;
  }

  const finish = (open: Connection, outcome: Outcome, keep: boolean): void => {
    const exchange = open.exchange;
    if (!exchange) return;
    open.exchange = undefined;
    clearTimeout(exchange.timer);
    if (keep) open.idle.refresh();
    else drop(open);
    exchange.resolve(outcome);
  };

  /** The answer's head is complete in `head` up to `end`: its status, and whether the connection can carry another request. */
  const onHead = (open: Connection, exchange: Exchange, head: Buffer, end: number): void => {
    const text = head.toString('latin1', 0, end);
    const statusLine = STATUS_LINE.exec(text);
    if (!statusLine) return failProtocol(open, 'the answer is not HTTP/1.x');
    const status = Number(statusLine[2]);
    const rest = head.length - end - HEAD_END.length;
    if (status >= 100 && status < 200) {
      // An interim answer (103 Early Hints): the real one follows.
      exchange.head = rest > 0 ? head.subarray(end + HEAD_END.length) : undefined;
      if (exchange.head) onData(open, Buffer.alloc(0));
      return;
    }
    let length = status === 204 || status === 304 ? 0 : -1;
    let keep = statusLine[1] === '1';
    for (const line of text.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length' && length !== 0) length = /^\d{1,9}$/.test(value) ? Number(value) : -1;
      else if (name === 'transfer-encoding') keep = false;
      else if (name === 'connection' && /(^|,)\s*close\s*(,|$)/i.test(value)) keep = false;
    }
    if (length < 0 || length > MAX_ANSWER_BYTES) keep = false;
    exchange.status = status;
    exchange.head = undefined;
    exchange.bodyLeft = length - rest;
    // The status is the answer; the body is only read to keep the connection.
    if (!keep || exchange.bodyLeft <= 0) finish(open, { status }, keep && exchange.bodyLeft === 0);
  };

  const failProtocol = (open: Connection, why: string): void =>
    finish(open, { error: Object.assign(new Error(why), { code: 'EPROTO' }), reused: false }, false);

  function onData(open: Connection, chunk: Buffer): void {
    const exchange = open.exchange;
    // Bytes nobody asked for: the connection no longer tells one answer from the next.
    if (!exchange) return drop(open);
    if (exchange.status === 0) {
      const head = exchange.head ? Buffer.concat([exchange.head, chunk]) : chunk;
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        if (head.length > MAX_HEAD_BYTES)
          return failProtocol(open, `the answer's head is over ${MAX_HEAD_BYTES} bytes`);
        exchange.head = head;
        return;
      }
      return onHead(open, exchange, head, end);
    }
    exchange.bodyLeft -= chunk.length;
    if (exchange.bodyLeft <= 0) finish(open, { status: exchange.status }, exchange.bodyLeft === 0);
  }

  const connect = (): Connection => {
    const socket =
      isHttps && tls ? tls.connect({ host, port, servername, secureContext: context }) : net.connect({ host, port });
    // The kept connection must not hold the manager alive; a check in flight is held by its probe.
    socket.unref();
    const idle = setTimeout(() => drop(open), KEEP_IDLE_MS);
    idle.unref();
    const open: Connection = { socket, idle, exchange: undefined };
    socket.on('data', (chunk: Buffer) => onData(open, chunk));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      finish(open, { error, reused: open.exchange?.reused ?? false }, false),
    );
    socket.on('close', () => {
      const reused = open.exchange?.reused ?? false;
      finish(
        open,
        { error: Object.assign(new Error('the connection closed before an answer'), { code: 'ECONNRESET' }), reused },
        false,
      );
      drop(open);
    });
    return open;
  };

  const requestOnce = (bytes: Buffer): Promise<Outcome> =>
    new Promise((resolve) => {
      if (closed) {
        resolve({
          error: Object.assign(new Error('the manager is shutting down'), { code: 'ESHUTDOWN' }),
          reused: false,
        });
        return;
      }
      const reused = connection !== undefined;
      const open = connection ?? (connection = connect());
      const timer = setTimeout(() => finish(open, { timedOut: true }, false), timeoutMs);
      open.exchange = { reused, resolve, timer, head: undefined, bodyLeft: 0, status: 0 };
      open.socket.write(bytes);
    });

  const ask = async (bytes: Buffer): Promise<CheckResult> => {
    let answer = await requestOnce(bytes);
    // ES may have closed the kept connection just as it was reused: that says nothing about ES; ask once more on a new one.
    if ('error' in answer && answer.reused && (answer.error.code === 'ECONNRESET' || answer.error.code === 'EPIPE'))
      answer = await requestOnce(bytes);
    if ('status' in answer) {
      if (answer.status >= 200 && answer.status < 300) return { ok: true };
      const hint =
        answer.status === 401 || answer.status === 403
          ? ': check USERNAME and PASSWORD/PASSWORD_FILE'
          : answer.status === 503
            ? ' (no elected master yet?)'
            : '';
      return notAnswering(`Elasticsearch answered HTTP ${answer.status}${hint}`);
    }
    if ('timedOut' in answer) return notAnswering(`Elasticsearch did not answer within ${timeoutMs} ms`);
    const { code = '', message } = answer.error;
    if (code === 'ECONNREFUSED') return notAnswering('Elasticsearch does not accept connections (yet)');
    if (/CERT|SSL|TLS|UNABLE_TO_|SELF_SIGNED|ALTNAME/.test(code))
      return notAnswering(
        `TLS with Elasticsearch failed (${code})`,
        `TLS with ${es.endpoint} failed: ${code}: ${message}`,
      );
    return notAnswering(
      `the request to Elasticsearch failed (${code || 'network error'})`,
      `GET ${es.endpoint}/ failed: ${code} ${message}`,
    );
  };

  const run = async (): Promise<CheckResult> => {
    const password = await readSecret(es.password, es.passwordFile, 'PASSWORD_FILE');
    if (!password.ok)
      return notAnswering('the password for Elasticsearch cannot be read (see the manager log)', password.reason);
    const trust = await contextFor();
    if ('failed' in trust) return trust.failed;
    const result = await ask(requestFor(password.value));
    if (!result.ok) caReadAt = -Infinity;
    return result;
  };

  return {
    // One at a time on the one connection: readiness.ts never asks twice at once, and a second caller shares the answer.
    run() {
      running ??= run().finally(() => {
        running = undefined;
      });
      return running;
    },
    async close() {
      closed = true;
      drop(connection);
    },
  };
}
