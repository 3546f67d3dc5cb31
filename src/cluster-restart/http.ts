// JSON over HTTP(S) for the coordinator, with undici (loaded on first use, as
// the reload client loads it: the manager itself never pays for this command).
// One keep-alive Client per origin: a run makes a few hundred small requests
// to the same few hosts, so connections are reused instead of re-handshaken.

import type { Client } from 'undici';
import { readBoundedBody, type Body } from '../http/bounded-body.ts';

export interface TlsMaterial {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface Answer {
  readonly status: number;
  readonly json: any;
  readonly text: string;
}

/** The peer could not be asked at all (refused, TLS, timeout, DNS): what exit 69 and the resume message are about. */
export class UnreachableError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

/** The peer answered, with an error: its HTTP status and, when it has ES's error shape, the error's type. */
export class ErrorAnswer extends Error {
  readonly status: number;
  readonly type: string | undefined;
  constructor(message: string, status: number, type: string | undefined) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

const CONNECT_TIMEOUT_MS = 10_000;
/** _nodes/http of a 100-node cluster is a few hundred KiB; beyond this something is wrong. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

export interface JsonClient {
  request(
    method: string,
    route: string,
    options: { body?: unknown; timeoutMs: number; headers?: Record<string, string> },
  ): Promise<Answer>;
  close(): Promise<void>;
}

let undici: typeof import('undici') | undefined;

export function createJsonClient(origin: string, tls: TlsMaterial = {}): JsonClient {
  let client: Client | undefined;
  const isHttps = origin.startsWith('https:');
  return {
    async request(method, route, { body, timeoutMs, headers = {} }) {
      undici ??= await import('undici');
      client ??= new undici.Client(origin, {
        connect: { ...(isHttps ? tls : {}), timeout: Math.min(CONNECT_TIMEOUT_MS, timeoutMs) },
      });
      const deadline = AbortSignal.timeout(timeoutMs);
      try {
        const response = await client.request({
          path: route,
          method: method as 'GET',
          headers: {
            accept: 'application/json',
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...headers,
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
          signal: deadline,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        const text = await readBounded(response.body);
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        return { status: response.statusCode, json, text };
      } catch (error) {
        throw unreachable(error as NodeJS.ErrnoException, origin, deadline.aborted, timeoutMs);
      }
    },
    async close() {
      await client?.close().catch(() => {});
      client = undefined;
    },
  };
}

/** The whole answer, or an error once it passes MAX_ANSWER_BYTES (the rest is never read). */
async function readBounded(body: Body): Promise<string> {
  const text = await readBoundedBody(body, MAX_ANSWER_BYTES);
  if (text === undefined)
    throw Object.assign(new Error(`answer larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`), { code: 'TOO_LARGE' });
  return text;
}

function unreachable(
  error: NodeJS.ErrnoException,
  origin: string,
  timedOut: boolean,
  timeoutMs: number,
): UnreachableError {
  const code = error.code ?? (error.cause as NodeJS.ErrnoException | undefined)?.code ?? error.name ?? 'ERROR';
  if (timedOut) return new UnreachableError(`${origin}: no answer within ${timeoutMs / 1000} s`, 'ETIMEDOUT');
  if (/CERT|SSL|TLS|UNABLE_TO_|SELF_SIGNED|ALTNAME/.test(code))
    return new UnreachableError(`${origin}: TLS failed (${code}: ${error.message})`, code);
  return new UnreachableError(
    `${origin}: ${code === 'ECONNREFUSED' ? 'connection refused' : `${code}: ${error.message}`}`,
    code,
  );
}
