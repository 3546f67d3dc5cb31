// How the manager asks whether Elasticsearch itself answers, once per check:
// `http` asks GET / on ENDPOINT as the keystore updater would (its CA, its
// credentials), as ECK's readiness script did with curl; `tcp` only connects
// to ES 8.2+'s readiness.port, which ES opens while the node is ready; `none`
// asks nothing. Nothing is spawned: a probe is a request from this process.

import { Buffer } from 'node:buffer';
import net from 'node:net';
import type { Client } from 'undici';
import type { KeystoreConfig, ReadyCheck } from '../config/config.ts';
import { loadCaBundle } from '../keystore/ca-bundle.ts';
import { readSecret } from '../keystore/secrets.ts';

/** ES's `GET /` answer is a few hundred bytes: more is not read. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** `summary` is for anyone who can reach the probe port (no path, no credential); `detail` is for the log. */
export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly summary: string; readonly detail: string };

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
    const timer = setTimeout(() => done(notAnswering(`port ${port} did not accept a connection within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => done({ ok: true }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done(notAnswering(error.code === 'ECONNREFUSED' ? `nothing listens on port ${port} (ES opens readiness.port once the node is ready)` : `port ${port}: ${error.code ?? error.message}`)),
    );
  });
}

/** undici is loaded on the first check only, and one Client kept for the one origin, replaced when the CA changes. */
function httpCheck(es: KeystoreConfig, timeoutMs: number): EsCheck {
  const url = new URL(`${es.endpoint}/`);
  const isHttps = url.protocol === 'https:';
  let client: Client | undefined;
  let clientCa: string | undefined;

  const clientFor = async (): Promise<{ readonly client: Client } | { readonly failed: CheckResult }> => {
    const ca = isHttps ? await loadCaBundle(es.certificatesPath) : { ok: true as const, pem: '' };
    if (!ca.ok) return { failed: notAnswering('the CA to trust Elasticsearch with cannot be read (see the manager log)', ca.reason) };
    if (!client || clientCa !== ca.pem) {
      const { Client } = await import('undici');
      void client?.close();
      client = new Client(url.origin, { connect: { ca: isHttps ? ca.pem : undefined, timeout: timeoutMs } });
      clientCa = ca.pem;
    }
    return { client };
  };

  return {
    async run() {
      const password = await readSecret(es.password, es.passwordFile, 'PASSWORD_FILE');
      if (!password.ok) return notAnswering('the password for Elasticsearch cannot be read (see the manager log)', password.reason);
      const chosen = await clientFor();
      if ('failed' in chosen) return chosen.failed;
      const headers: Record<string, string> = { accept: 'application/json' };
      if (es.username !== undefined) headers.authorization = `Basic ${Buffer.from(`${es.username}:${password.value ?? ''}`).toString('base64')}`;
      const deadline = AbortSignal.timeout(timeoutMs);
      try {
        const response = await chosen.client.request({
          path: url.pathname,
          method: 'GET',
          headers,
          signal: deadline,
          // Probes come seconds apart: no idle keep-alive socket between them.
          reset: true,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        // The status is the answer; the body (a few hundred bytes) is read and dropped, at most this much.
        await response.body.dump({ limit: MAX_ANSWER_BYTES }).catch(() => {});
        if (response.statusCode >= 200 && response.statusCode < 300) return { ok: true };
        const hint = response.statusCode === 401 || response.statusCode === 403 ? ': check USERNAME and PASSWORD/PASSWORD_FILE' : response.statusCode === 503 ? ' (no elected master yet?)' : '';
        return notAnswering(`Elasticsearch answered HTTP ${response.statusCode}${hint}`);
      } catch (error) {
        if (deadline.aborted) return notAnswering(`Elasticsearch did not answer within ${timeoutMs} ms`);
        const { code, message } = error as NodeJS.ErrnoException;
        const cause = code ?? ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? '';
        if (cause === 'ECONNREFUSED') return notAnswering('Elasticsearch does not accept connections (yet)');
        if (/CERT|SSL|TLS|UNABLE_TO_|SELF_SIGNED|ALTNAME/.test(cause)) return notAnswering(`TLS with Elasticsearch failed (${cause})`, `TLS with ${es.endpoint} failed: ${cause}: ${message}`);
        if (/TIMEOUT/.test(cause)) return notAnswering(`Elasticsearch did not answer within ${timeoutMs} ms`);
        return notAnswering(`the request to Elasticsearch failed (${cause || 'network error'})`, `GET ${es.endpoint}/ failed: ${cause} ${message}`);
      }
    },
    async close() {
      await client?.close();
      client = undefined;
    },
  };
}
