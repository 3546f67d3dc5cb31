// POST {ENDPOINT}/_nodes/_local/reload_secure_settings with undici, basic
// auth and the CA from CERTIFICATES_PATH. undici is loaded on the first call
// only, so a manager without reloads never pays its memory; the bundle holds
// only its Client and Dispatcher#request (build.mjs), so that is all this uses.

import { Buffer } from 'node:buffer';
import type { Client } from 'undici';
import type { KeystoreConfig } from '../config/config.ts';
import { loadCaBundle } from '../files/ca-bundle.ts';
import { readSecret } from '../files/secrets.ts';
import { readBoundedBody } from '../http/bounded-body.ts';

const RELOAD_ROUTE = '/_nodes/_local/reload_secure_settings';
/**
 * Reload decrypts the keystore and calls every reloadable plugin: give it time,
 * but all of it, answer included, within this: undici's body timeout restarts at
 * each byte, so a body dripped a byte at a time would otherwise never end.
 */
const RELOAD_DEADLINE_MS = 60_000;
const CONNECT_TIMEOUT_MS = 10_000;
/** A real answer is a few hundred bytes per node; more is read no further. */
const MAX_ANSWER_BYTES = 256 * 1024;

export type FailureKind =
  | 'refused'
  | 'unavailable'
  | 'unauthorized'
  | 'forbidden'
  | 'reload_exception'
  | 'tls'
  | 'timeout'
  | 'network'
  | 'http'
  | 'config'
  | 'aborted';

export type ReloadOutcome =
  | { readonly ok: true; readonly nodes: readonly string[] }
  | { readonly ok: false; readonly kind: FailureKind; readonly reason: string; readonly isTransient: boolean };

/** Elasticsearch not serving yet (booting, no master): retry quietly, it is no misconfiguration. */
const TRANSIENT: ReadonlySet<FailureKind> = new Set(['refused', 'unavailable', 'timeout', 'network']);

export interface ReloadClient {
  reload(keystorePassword: string | undefined, signal: AbortSignal): Promise<ReloadOutcome>;
  close(): Promise<void>;
}

/** `deadlineMs`: for the whole call, answer included; only tests choose a shorter one. */
export function createReloadClient(config: KeystoreConfig, deadlineMs = RELOAD_DEADLINE_MS): ReloadClient {
  const url = new URL(`${config.endpoint}${RELOAD_ROUTE}`);
  const isHttps = url.protocol === 'https:';
  let undici: typeof import('undici') | undefined;
  let client: Client | undefined;
  let clientCa: string | undefined;

  /** One Client for the one origin, replaced only when the CA changes. */
  const dispatcher = async (): Promise<{ readonly client: Client } | { readonly failed: ReloadOutcome }> => {
    const http = (undici ??= await import('undici'));
    const ca = isHttps ? await loadCaBundle(config.certificatesPath) : { ok: true as const, pem: '' };
    if (!ca.ok) return { failed: failure('config', ca.reason) };
    if (!client || clientCa !== ca.pem) {
      void client?.close();
      client = new http.Client(url.origin, {
        connect: { ca: isHttps ? ca.pem : undefined, timeout: CONNECT_TIMEOUT_MS },
      });
      clientCa = ca.pem;
    }
    return { client };
  };

  return {
    async reload(keystorePassword, signal) {
      const password = await readSecret(config.password, config.passwordFile, 'PASSWORD_FILE');
      if (!password.ok) return failure('config', password.reason);
      const chosen = await dispatcher();
      if ('failed' in chosen) return chosen.failed;
      const headers: Record<string, string> = { accept: 'application/json' };
      if (config.username !== undefined) {
        headers.authorization = `Basic ${Buffer.from(`${config.username}:${password.value ?? ''}`).toString('base64')}`;
      }
      let body: string | undefined;
      if (keystorePassword !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify({ secure_settings_password: keystorePassword });
      }
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), deadlineMs);
      try {
        const response = await chosen.client.request({
          path: url.pathname + url.search,
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.any([signal, deadline.signal]),
          // Reloads come minutes or days apart: an idle keep-alive socket would only keep timers running.
          reset: true,
          headersTimeout: deadlineMs,
          bodyTimeout: deadlineMs,
        });
        const text = await readBoundedBody(response.body, MAX_ANSWER_BYTES);
        if (text === undefined)
          return failure(
            'http',
            `HTTP ${response.statusCode} from Elasticsearch with an answer larger than ${MAX_ANSWER_BYTES / 1024} KiB; not read further`,
          );
        return interpret(response.statusCode, text);
      } catch (error) {
        if (deadline.signal.aborted && !signal.aborted)
          return failure('timeout', `no complete answer from ${config.endpoint} within ${deadlineMs / 1000} s`);
        return classifyError(error as NodeJS.ErrnoException, config.endpoint);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await client?.close();
      client = undefined;
    },
  };
}

function failure(kind: FailureKind, reason: string): ReloadOutcome {
  return { ok: false, kind, reason, isTransient: TRANSIENT.has(kind) };
}

/** The parts of Elasticsearch's answers we read. */
interface EsAnswer {
  readonly error?: string | { readonly type?: string; readonly reason?: string | null };
  readonly _nodes?: { readonly failed?: number };
  readonly nodes?: Record<
    string,
    { readonly name?: string; readonly reload_exception?: { readonly type?: string; readonly reason?: string } }
  >;
}

/** HTTP 200 is not enough: each node reports its own reload_exception. */
function interpret(status: number, text: string): ReloadOutcome {
  let answer: EsAnswer | undefined;
  try {
    answer = JSON.parse(text) as EsAnswer;
  } catch {
    answer = undefined;
  }
  const esReason = (): string => {
    const error = answer?.error;
    const reason =
      typeof error === 'object' && error !== null
        ? `${error.type}: ${error.reason}`
        : typeof error === 'string'
          ? error
          : text.slice(0, 200);
    return reason || 'no body';
  };
  if (status === 401)
    return failure(
      'unauthorized',
      `HTTP 401 from Elasticsearch, check USERNAME and PASSWORD/PASSWORD_FILE (${esReason()})`,
    );
  if (status === 403)
    return failure(
      'forbidden',
      `HTTP 403 from Elasticsearch, the user lacks the manage cluster privilege (${esReason()})`,
    );
  if (status === 503) return failure('unavailable', `HTTP 503 from Elasticsearch, not ready yet (${esReason()})`);
  if (status !== 200) return failure('http', `HTTP ${status} from Elasticsearch (${esReason()})`);
  if (typeof answer?.nodes !== 'object' || answer.nodes === null)
    return failure('http', `HTTP 200 without a nodes object: ${text.slice(0, 200)}`);
  const nodes = Object.entries(answer.nodes);
  const broken = nodes.filter(([, node]) => node?.reload_exception);
  if (broken.length > 0) {
    const details = broken.map(
      ([id, node]) => `node ${node.name ?? id}: ${node.reload_exception?.type}: ${node.reload_exception?.reason}`,
    );
    return failure('reload_exception', `Elasticsearch could not reload secure settings: ${details.join('; ')}`);
  }
  const unreached = Number(answer._nodes?.failed ?? 0);
  if (unreached > 0)
    return failure('reload_exception', `Elasticsearch could not reach ${unreached} node(s) for the reload`);
  if (nodes.length === 0) return failure('http', 'the reload reached no node');
  return { ok: true, nodes: nodes.map(([id, node]) => node?.name ?? id) };
}

function classifyError(error: NodeJS.ErrnoException, endpoint: string): ReloadOutcome {
  const code = error.code ?? (error.cause as NodeJS.ErrnoException | undefined)?.code ?? '';
  const message = error.message || code;
  if (error.name === 'AbortError' || code === 'UND_ERR_ABORTED')
    return failure('aborted', 'reload aborted: the manager is shutting down');
  if (code === 'ECONNREFUSED')
    return failure('refused', `connection refused by ${endpoint}: Elasticsearch is not listening (yet)`);
  if (/CERT|SSL|TLS|UNABLE_TO_|SELF_SIGNED|ALTNAME/.test(code))
    return failure('tls', `TLS error talking to ${endpoint} (${code}: ${message}); check CERTIFICATES_PATH`);
  if (/TIMEOUT/.test(code)) return failure('timeout', `no answer from ${endpoint} in time (${code})`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return failure('network', `cannot resolve the host of ${endpoint} (${code})`);
  return failure('network', `request to ${endpoint} failed: ${code ? `${code}: ` : ''}${message}`);
}
