// One node's process manager, over its HTTP API (mutual TLS when a client
// certificate is given): the status, stop and start the restart is made of.

import fs from 'node:fs/promises';
import { createJsonClient, ErrorAnswer, type Answer, type JsonClient, type TlsMaterial } from './http.ts';
import type { RestartOptions } from './options.ts';

export interface ProcessStatus {
  readonly state: string;
  readonly startedAt: string | null;
  readonly desired: string;
  readonly lastExit: { code: number | null; signal: string | null } | null;
  readonly config?: { sha256: string | null; changedAt: string } | null;
}

/** The manager answered with an error. */
export class ManagerError extends ErrorAnswer {}

export interface ManagerClient {
  readonly url: string;
  status(): Promise<ProcessStatus>;
  /** Blocking on the manager's side: it answers once nothing of the process is left. */
  stop(timeoutMs: number): Promise<ProcessStatus>;
  start(configSha?: string): Promise<ProcessStatus>;
  close(): Promise<void>;
}

const REQUEST_MS = 15_000;

/** The files are read once per run: a run lasts minutes, the certificate days. */
export async function readManagerTls(options: RestartOptions): Promise<TlsMaterial> {
  const read = (file: string | undefined) => (file ? fs.readFile(file, 'utf8') : Promise.resolve(undefined));
  const [cert, key, ca] = await Promise.all([
    read(options.clientCert),
    read(options.clientKey),
    read(options.managerCa),
  ]);
  return { cert, key, ca };
}

/** A manager answers status and start at once: they wait REQUEST_MS, or stepTimeoutMs (--timeout) if shorter. */
export function createManagerClient(url: string, name: string, tls: TlsMaterial, stepTimeoutMs: number): ManagerClient {
  const requestMs = Math.min(REQUEST_MS, stepTimeoutMs);
  const http: JsonClient = createJsonClient(url, tls);
  const base = new URL(url).pathname.replace(/\/$/, '');
  const call = async (method: string, route: string, timeoutMs: number): Promise<ProcessStatus> => {
    const answer = await http.request(method, `${base}/${name}${route}`, { timeoutMs });
    if (answer.status >= 200 && answer.status < 300 && answer.json?.state) return answer.json as ProcessStatus;
    throw managerError(method, `/${name}${route}`, answer);
  };
  return {
    url,
    status: () => call('GET', '/status', requestMs),
    stop: (timeoutMs) => call('POST', '/stop', timeoutMs),
    start: (configSha) => call('POST', configSha ? `/start?config=${configSha}` : '/start', requestMs),
    close: () => http.close(),
  };
}

function managerError(method: string, route: string, answer: Answer): ManagerError {
  const error = answer.json?.error;
  const type = typeof error === 'object' && error ? String(error.type) : undefined;
  const reason = type ? `${type}: ${error.reason}` : answer.text.slice(0, 200) || 'no body';
  return new ManagerError(`${method} ${route}: HTTP ${answer.status} (${reason})`, answer.status, type);
}

/** Not running, and not about to run: what "stopped" means for a restart. */
export function isDown(status: ProcessStatus): boolean {
  return ['notStarted', 'stopped', 'killed', 'exited', 'failed'].includes(status.state);
}

/** Started at or after `since`: restarted by this run (or the one it resumes). */
export function isRestartedSince(status: ProcessStatus, since: Date): boolean {
  return !isDown(status) && status.startedAt !== null && Date.parse(status.startedAt) >= since.getTime();
}
