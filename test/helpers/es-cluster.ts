// A fake ES cluster (test/fixtures/es-cluster) with three nodes, each
// supervised by a real manager as PID 1 of its own PID namespace, listening
// with mutual TLS on 127.0.0.2, .3 and .4 at one port; and the coordinator
// (`dist/process-manager cluster-restart`) run against them.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { EXECUTABLE, freePort, ROOT, stopManager, tempDir, waitFor } from './manager.ts';
import { createTestCa } from './openssl.ts';
import { startAsPid1, UNSHARE, type Pid1Run } from './pid1.ts';
import { issue } from './tls-client.ts';

const FIXTURES = path.join(ROOT, 'test/fixtures/es-cluster');
export const NODE_NAMES = ['es-0', 'es-1', 'es-2'];
export const NODE_IPS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

export interface FakeCluster {
  readonly url: string;
  readonly names: readonly string[];
  readonly ips: readonly string[];
  readonly dir: string;
  readonly managerPort: number;
  readonly managers: Map<string, Pid1Run>;
  /** The options every run needs: where ES is, the manager port, the client certificate. */
  readonly baseArgs: string[];
  /** Creating it keeps that node from joining, though its process runs. */
  holdFile(name: string): string;
  state(): Promise<any>;
  reset(): Promise<void>;
  /** Each node's number of process starts so far (the fake nodes append one line per start). */
  starts(): Record<string, number>;
  waitGreen(): Promise<void>;
  /** A request to one node's manager, with the client certificate. */
  managerRequest(name: string, method: string, route: string): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

export interface ClusterServer {
  /** Its HTTP API, ES's, on 127.0.0.1. */
  readonly url: string;
  /** Where fake nodes join (FAKE_CLUSTER_TRANSPORT), on 127.0.0.1. */
  readonly transportPort: number;
  /** GET /_fake/state: what happened (joins per node, settings, calls, lowestLive). */
  state(): Promise<any>;
  /** POST /_fake/reset: calls forgotten, lowestLive from now on. */
  reset(): Promise<void>;
  waitGreen(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** The fake cluster's own process (cluster.mjs), expecting the nodes named; no node runs yet. */
export async function startClusterServer(
  names: readonly string[],
  env: Record<string, string> = {},
): Promise<ClusterServer> {
  const server = spawn(process.execPath, [path.join(FIXTURES, 'cluster.mjs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FAKE_CLUSTER_NODES: names.join(','), FAKE_CLUSTER_SHARDS: String(names.length), ...env },
  });
  process.once('exit', () => server.kill('SIGKILL'));
  const ports = await new Promise<{ http: number; transport: number }>((resolve, reject) => {
    server.stdout!.setEncoding('utf8').once('data', (line: string) => resolve(JSON.parse(line)));
    server.once('exit', (code) => reject(new Error(`the fake cluster exited (${code})`)));
  });
  const url = `http://127.0.0.1:${ports.http}`;
  const state = async (): Promise<any> => (await fetch(`${url}/_fake/state`)).json();
  return {
    url,
    transportPort: ports.transport,
    state,
    async reset() {
      await fetch(`${url}/_fake/reset`, { method: 'POST' });
    },
    async waitGreen(timeoutMs = 60_000) {
      await waitFor(async () => (await state()).health.status === 'green', 'the fake cluster to be green', timeoutMs);
    },
    async close() {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
      await new Promise((resolve) =>
        server.exitCode !== null || server.signalCode !== null ? resolve(null) : server.once('exit', resolve),
      );
    },
  };
}

/** size: the tests' three nodes by default; the bench asks for more (es-N on 127.0.0.N+2). */
export async function startFakeCluster(size = 3, env: Record<string, string> = {}): Promise<FakeCluster> {
  const names = Array.from({ length: size }, (_, i) => `es-${i}`);
  const ips = Array.from({ length: size }, (_, i) => `127.0.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`);
  const dir = tempDir('pm-cluster-');
  const server = await startClusterServer(names, env);
  const { url } = server;

  // The managers' server certificate names their IPs, as a Pod's names its POD_IP.
  const serverCa = createTestCa(path.join(dir, 'server-ca'));
  const clientCa = createTestCa(path.join(dir, 'client-ca'));
  const serverKey = path.join(dir, 'tls.key');
  const sans = ['127.0.0.1', ...ips].map((ip) => `IP:${ip}`).join(',');
  const csr = execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      serverKey,
      '-subj',
      '/CN=es-managers',
      '-addext',
      `subjectAltName=${sans}`,
    ],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  fs.writeFileSync(path.join(dir, 'tls.crt'), serverCa.sign(csr));
  fs.writeFileSync(path.join(dir, 'client-ca.crt'), clientCa.certPem);
  const client = issue(clientCa, path.join(dir, 'client'), 'cluster-restart-job');
  fs.writeFileSync(path.join(dir, 'client.crt'), client.certPem);
  fs.writeFileSync(path.join(dir, 'client.key'), client.keyPem);

  const managerPort = await freePort();
  const startLog = path.join(dir, 'starts.log');
  const managers = new Map<string, Pid1Run>();
  const holdFile = (name: string): string => path.join(dir, `hold-${name}`);
  // A few at a time: thirty managers starting at once on two cores would outlast their start-up deadline.
  for (let first = 0; first < names.length; first += 6) {
    await Promise.all(
      names.slice(first, first + 6).map(async (name, j) => {
        const i = first + j;
        const run = await startAsPid1(path.join(FIXTURES, 'fake-node.mjs'), [], {
          extra: [
            '--http-host',
            ips[i],
            '--http-port',
            String(managerPort),
            '--tls-cert',
            path.join(dir, 'tls.crt'),
            '--tls-key',
            serverKey,
            '--tls-client-ca',
            path.join(dir, 'client-ca.crt'),
            '--stop-timeout',
            '10s',
          ],
          env: {
            FAKE_NODE_NAME: name,
            FAKE_NODE_IP: ips[i],
            FAKE_CLUSTER_TRANSPORT: String(server.transportPort),
            FAKE_NODE_LOG: startLog,
            FAKE_NODE_HOLD_FILE: holdFile(name),
          },
        });
        managers.set(name, run);
      }),
    );
  }

  const { state } = server;
  const cluster: FakeCluster = {
    url,
    names,
    ips,
    dir,
    managerPort,
    managers,
    baseArgs: [
      '--es',
      url,
      '--manager-port',
      String(managerPort),
      '--client-cert',
      path.join(dir, 'client.crt'),
      '--client-key',
      path.join(dir, 'client.key'),
      '--manager-ca',
      serverCa.certPath,
    ],
    holdFile,
    state,
    reset: server.reset,
    starts() {
      const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
      for (const line of fs.existsSync(startLog) ? fs.readFileSync(startLog, 'utf8').split('\n') : [])
        if (line) counts[line.split(' ')[1]]++;
      return counts;
    },
    waitGreen: () => server.waitGreen(),
    managerRequest(name, method, route) {
      return new Promise((resolve, reject) => {
        const request = https.request(
          {
            host: ips[names.indexOf(name)],
            port: managerPort,
            path: route,
            method,
            ca: serverCa.certPem,
            cert: client.certPem,
            key: client.keyPem,
            timeout: 60_000,
          },
          (response) => {
            let text = '';
            response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, json: JSON.parse(text) }));
          },
        );
        request.on('error', reject).end();
      });
    },
    async close() {
      await Promise.all([...managers.values()].map((run) => stopManager(run.manager)));
      await server.close();
    },
  };
  await cluster.waitGreen();
  return cluster;
}

export interface Coordinator {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly done: Promise<number | null>;
  /** The --json events printed so far. */
  events(): any[];
}

/** `process-manager cluster-restart ARGS`, its output gathered. */
export function coordinator(args: readonly string[], wrapper: readonly string[] = []): Coordinator {
  const argv = [...wrapper, EXECUTABLE, 'cluster-restart', ...args];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Coordinator = {
    child,
    stdout: '',
    stderr: '',
    done: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    events: () =>
      run.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line)),
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (run.stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (run.stderr += chunk));
  process.once('exit', () => child.kill('SIGKILL'));
  return run;
}

/** The same as PID 1 of its own PID namespace, as a Job's container runs it. */
export function coordinatorAsPid1(args: readonly string[]): Coordinator {
  return coordinator(args, UNSHARE);
}

/** Runs it to its end; a run should take seconds, the bound is generous for a busy machine. */
export async function restart(args: readonly string[]): Promise<Coordinator & { code: number | null }> {
  const run = coordinator(args);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), 240_000);
  const code = await run.done;
  clearTimeout(timer);
  return Object.assign(run, { code });
}
