// How the manager asks whether Elasticsearch itself answers, once per check:
// `http` asks GET / on ENDPOINT as the keystore updater would (its CA, its
// credentials), as ECK's readiness script did with curl; `tcp` only connects
// to ES 8.2+'s readiness.port, which ES opens while the node is ready; `none`
// asks nothing. Nothing is spawned: a probe is a request from this process.

import { Buffer } from 'node:buffer';
import http from 'node:http';
import net from 'node:net';
import type { KeystoreConfig, ReadyCheck } from '../config/config.ts';
import { loadCaBundle } from '../files/ca-bundle.ts';
import { readSecret } from '../files/secrets.ts';
import { monotonicMs } from '../clock/clock.ts';

/** ES's `GET /` answer is a few hundred bytes: more is not read. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** A connection unused this long is closed: beyond a probe period (5 to 10 s), short of a minute. */
const KEEP_IDLE_MS = 30_000;
/** The CA is read again this often while checks succeed (a rotation keeps the old CA valid for a while), and after any failure. */
const CA_REREAD_MS = 60_000;

/** `summary` is for anyone who can reach the probe port (no path, no credential); `detail` is for the log. */
export type CheckResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly summary: string; readonly detail: string };

export interface EsCheck {
  run(): Promise<CheckResult>;
  close(): Promise<void>;
}

/** `--ready-check none`: the process state alone decides. */
export const NO_CHECK: EsCheck = { run: async () => ({ ok: true }), close: async () => {} };

export function createEsCheck(check: ReadyCheck, es: KeystoreConfig, timeoutMs: number): EsCheck {
  switch (check.kind) {
    case 'none':
      return NO_CHECK;
    case 'tcp':
      return { run: () => connectOnce(check.port, timeoutMs), close: async () => {} };
    case 'http':
      return httpCheck(es, timeoutMs);
  }
}

function notAnswering(summary: string, detail = summary): CheckResult {
  return { ok: false, summary, detail };
}

function connectOnce(port: number, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (result: CheckResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done(notAnswering(`port ${port} did not accept a connection within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('connect', () => done({ ok: true }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done(
        notAnswering(
          error.code === 'ECONNREFUSED'
            ? `nothing listens on port ${port} (ES opens readiness.port once the node is ready)`
            : `port ${port}: ${error.code ?? error.message}`,
        ),
      ),
    );
  });
}

/**
 * One keep-alive connection, reused from check to check: a probe every few
 * seconds would otherwise pay a TCP and TLS handshake each time, several times
 * the CPU of the request itself. Node's own client, not undici: its idle
 * socket waits on one timer and wakes nobody, where undici's timers tick twice
 * a second while a connection is kept.
 */
function httpCheck(es: KeystoreConfig, timeoutMs: number): EsCheck {
  const url = new URL(`${es.endpoint}/`);
  const isHttps = url.protocol === 'https:';
  let agent: http.Agent | undefined;
  /** node:https, loaded with the first check: at start-up it would cost the API 15 to 20 ms before /health answers (issue 20). */
  let https: typeof import('node:https') | undefined;
  let agentCa: string | undefined;
  /** When the CA was last read; a failed check forgets it, so a rotated CA is read again at once. */
  let caReadAt = -Infinity;

  const agentFor = async (): Promise<{ readonly agent: http.Agent } | { readonly failed: CheckResult }> => {
    if (agent && monotonicMs() - caReadAt < CA_REREAD_MS) return { agent };
    const ca = isHttps ? await loadCaBundle(es.certificatesPath) : { ok: true as const, pem: '' };
    caReadAt = monotonicMs();
    if (!ca.ok)
      return {
        failed: notAnswering('the CA to trust Elasticsearch with cannot be read (see the manager log)', ca.reason),
      };
    if (!agent || agentCa !== ca.pem) {
      agent?.destroy();
      const options = { keepAlive: true, maxSockets: 1, maxFreeSockets: 1, timeout: KEEP_IDLE_MS };
      if (isHttps) https ??= await import('node:https');
      agent = https ? new https.Agent({ ...options, ca: ca.pem }) : new http.Agent(options);
      agentCa = ca.pem;
    }
    return { agent };
  };

  const requestOnce = (
    chosen: http.Agent,
    headers: Record<string, string>,
  ): Promise<{ status: number } | { error: NodeJS.ErrnoException; reused: boolean }> =>
    new Promise((resolve) => {
      const request = (https ?? http).request(url, {
        method: 'GET',
        headers,
        agent: chosen,
        signal: AbortSignal.timeout(timeoutMs),
      });
      request.on('response', (response) => {
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) response.destroy(); // the status is the answer; no more of the body is read
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0 }));
        response.on('close', () => resolve({ status: response.statusCode ?? 0 }));
      });
      request.on('error', (error: NodeJS.ErrnoException) => resolve({ error, reused: request.reusedSocket }));
      request.end();
    });

  return {
    async run() {
      const password = await readSecret(es.password, es.passwordFile, 'PASSWORD_FILE');
      if (!password.ok)
        return notAnswering('the password for Elasticsearch cannot be read (see the manager log)', password.reason);
      const chosen = await agentFor();
      if ('failed' in chosen) return chosen.failed;
      const headers: Record<string, string> = { accept: 'application/json' };
      if (es.username !== undefined)
        headers.authorization = `Basic ${Buffer.from(`${es.username}:${password.value ?? ''}`).toString('base64')}`;
      const result = await ask(chosen.agent, headers);
      if (!result.ok) caReadAt = -Infinity;
      return result;
    },
    async close() {
      agent?.destroy();
      agent = undefined;
    },
  };

  async function ask(chosen: http.Agent, headers: Record<string, string>): Promise<CheckResult> {
    let answer = await requestOnce(chosen, headers);
    // ES may have closed the kept connection just as it was reused: that says nothing about ES; ask once more on a new one.
    if ('error' in answer && answer.reused && (answer.error.code === 'ECONNRESET' || answer.error.code === 'EPIPE'))
      answer = await requestOnce(chosen, headers);
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
    const { code = '', message, name } = answer.error;
    if (name === 'AbortError' || name === 'TimeoutError')
      return notAnswering(`Elasticsearch did not answer within ${timeoutMs} ms`);
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
  }
}
