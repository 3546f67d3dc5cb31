// The Elasticsearch APIs a cluster restart uses, and no other (the contract
// lists them, so a fake cluster can play all of them faithfully).

import { Buffer } from 'node:buffer';
import { loadCaBundle } from '../files/ca-bundle.ts';
import { readSecret } from '../files/secrets.ts';
import { createJsonClient, ErrorAnswer, type Answer, type JsonClient } from './http.ts';
import type { RestartOptions } from './options.ts';

/** ES answered, with an error (its `{"error":{"type","reason"},"status"}` shape when it has one). */
export class EsError extends ErrorAnswer {}

export type Health = 'green' | 'yellow' | 'red';

export interface EsNode {
  readonly id: string;
  readonly name: string;
  /** host of http.publish_address ("name/ip:port" or "ip:port"): the IP, which a certificate's SANs carry */
  readonly host: string;
}

export interface ShutdownRecord {
  readonly nodeId: string;
  readonly type: string;
  readonly reason: string;
}

/** One request's deadline while polling: short, so a hung ES costs one poll, not the step. */
const REQUEST_MS = 15_000;

export interface EsClient {
  version(): Promise<string>;
  health(waitFor?: Health, waitSeconds?: number): Promise<{ status: Health; timedOut: boolean; nodes: number }>;
  allocation(): Promise<string | null>;
  setAllocation(value: 'primaries' | null): Promise<void>;
  flush(): Promise<void>;
  httpNodes(): Promise<EsNode[]>;
  /** ids of the nodes in the cluster now, with the elected master's */
  members(): Promise<{ ids: Set<string>; names: Set<string>; masterId: string | undefined }>;
  putShutdown(nodeId: string, reason: string): Promise<void>;
  shutdowns(): Promise<ShutdownRecord[]>;
  deleteShutdown(nodeId: string): Promise<void>;
  close(): Promise<void>;
}

const ALLOCATION = 'cluster.routing.allocation.enable';

export async function createEsClient(options: RestartOptions): Promise<EsClient> {
  let ca: string | undefined;
  if (options.es.startsWith('https:')) {
    const bundle = await loadCaBundle(options.esCa);
    if (!bundle.ok) throw new EsError(bundle.reason, 0, 'configuration');
    ca = bundle.pem;
  }
  const password = await readSecret(options.esPassword, options.esPasswordFile, '--es-password-file');
  if (!password.ok) throw new EsError(password.reason, 0, 'configuration');
  const headers: Record<string, string> =
    options.esUsername !== undefined
      ? { authorization: `Basic ${Buffer.from(`${options.esUsername}:${password.value ?? ''}`).toString('base64')}` }
      : {};
  const http: JsonClient = createJsonClient(options.es, { ca });
  const base = new URL(options.es).pathname.replace(/\/$/, '');

  const call = async (
    method: string,
    route: string,
    body?: unknown,
    timeoutMs = REQUEST_MS,
    accept: number[] = [],
  ): Promise<Answer> => {
    const answer = await http.request(method, `${base}${route}`, { body, timeoutMs, headers });
    if ((answer.status >= 200 && answer.status < 300) || accept.includes(answer.status)) return answer;
    throw esError(method, route, answer);
  };

  return {
    async version() {
      return String((await call('GET', '/')).json?.version?.number ?? '');
    },
    async health(waitFor, waitSeconds = 1) {
      const route = waitFor
        ? `/_cluster/health?wait_for_status=${waitFor}&timeout=${waitSeconds}s`
        : '/_cluster/health';
      // 408: ES answers the health with timed_out when wait_for_status was not reached in time.
      const answer = await call('GET', route, undefined, REQUEST_MS + waitSeconds * 1000, [408]);
      return {
        status: answer.json?.status,
        timedOut: answer.json?.timed_out === true,
        nodes: Number(answer.json?.number_of_nodes ?? 0),
      };
    },
    async allocation() {
      const json = (await call('GET', '/_cluster/settings?flat_settings=true')).json;
      // A transient value wins over the persistent one in ES; say what is in force.
      return json?.transient?.[ALLOCATION] ?? json?.persistent?.[ALLOCATION] ?? null;
    },
    async setAllocation(value) {
      // persistent: a transient setting would be lost if every master restarts (a full restart).
      await call('PUT', '/_cluster/settings', { persistent: { [ALLOCATION]: value } });
    },
    async flush() {
      await call('POST', '/_flush');
    },
    async httpNodes() {
      const nodes = (await call('GET', '/_nodes/http')).json?.nodes ?? {};
      return Object.entries(nodes as Record<string, any>).map(([id, node]) => ({
        id,
        name: String(node.name),
        host: hostOf(String(node.http?.publish_address ?? '')),
      }));
    },
    async members() {
      const rows = (await call('GET', '/_cat/nodes?format=json&h=id,name,master&full_id=true')).json;
      if (!Array.isArray(rows)) throw new EsError('GET /_cat/nodes did not answer a list', 200, undefined);
      return {
        ids: new Set(rows.map((row: any) => String(row.id))),
        names: new Set(rows.map((row: any) => String(row.name))),
        masterId: rows.find((row: any) => row.master === '*')?.id,
      };
    },
    async putShutdown(nodeId, reason) {
      await call('PUT', `/_nodes/${encodeURIComponent(nodeId)}/shutdown`, { type: 'restart', reason });
    },
    async shutdowns() {
      const records = (await call('GET', '/_nodes/shutdown')).json?.nodes ?? [];
      return (records as any[]).map((r) => ({
        nodeId: String(r.node_id),
        type: String(r.type),
        reason: String(r.reason ?? ''),
      }));
    },
    async deleteShutdown(nodeId) {
      // 404: no record (deleted by an earlier run, or never put): done either way.
      await call('DELETE', `/_nodes/${encodeURIComponent(nodeId)}/shutdown`, undefined, REQUEST_MS, [404]);
    },
    close: () => http.close(),
  };
}

/** "es-0.es.ns.svc/10.0.0.5:9200" → 10.0.0.5; "[::1]:9200" → [::1] (kept bracketed for a URL). */
export function hostOf(publishAddress: string): string {
  const address = publishAddress.includes('/')
    ? publishAddress.slice(publishAddress.lastIndexOf('/') + 1)
    : publishAddress;
  return address.startsWith('[')
    ? address.slice(0, address.indexOf(']') + 1)
    : address.slice(0, address.lastIndexOf(':'));
}

function esError(method: string, route: string, answer: Answer): EsError {
  const error = answer.json?.error;
  const type = typeof error === 'object' && error ? error.type : undefined;
  const reason =
    typeof error === 'object' && error ? `${error.type}: ${error.reason}` : answer.text.slice(0, 200) || 'no body';
  return new EsError(`${method} ${route}: HTTP ${answer.status} (${reason})`, answer.status, type);
}
