// The HTTP app in process: createApi(...) on fetch-lite's classes (as the
// bundle runs it) over a real supervisor on fake side effects. Every route,
// 405 with Allow, 404, the error shape, in milliseconds; the suites that run
// the executable cover the socket and the bridge.

import { liteRequest } from '../helpers/fetch-lite-globals.ts';
import t from 'tap';
import type { CertificatesStatus } from '../../src/certs/status.ts';
import type { KeystoreStatus } from '../../src/keystore/status.ts';
import { createApi } from '../../src/api/app.ts';
import type { Config } from '../../src/config/config.ts';
import { createSupervisor } from '../../src/supervisor/supervisor.ts';
import { createFakeSystem, settle, supervisorConfig } from '../helpers/fake-system.ts';
import { readAnswer } from '../helpers/manager.ts';

const ES_ERROR = { error: { type: String, reason: String }, status: Number };

interface Setup {
  config?: Partial<Config>;
  /** Only the fields a case looks at (and some no status has, to see them shown as they are). */
  keystore?: Partial<KeystoreStatus> & Record<string, unknown>;
  certificates?: Partial<CertificatesStatus> & Record<string, unknown>;
  requireClientCertificates?: boolean;
}

async function setup(options: Setup = {}) {
  const fake = createFakeSystem();
  const config = supervisorConfig(options.config);
  const supervisor = createSupervisor(config, { log: fake.log, onExitRequested: () => {}, system: fake.system });
  supervisor.takeOverStateFile();
  const app = createApi({
    name: config.name,
    supervisor,
    log: fake.log,
    keystoreStatus: options.keystore && (() => options.keystore as KeystoreStatus),
    keystoreMetrics:
      options.keystore &&
      (() => ({ syncs: 2, syncFailures: 0, reloads: 1, reloadFailures: 0, lastSyncAt: '2026-01-01T00:00:00.000Z' })),
    certificatesStatus: options.certificates && (() => options.certificates as CertificatesStatus),
    requireClientCertificates: options.requireClientCertificates,
  });
  /** As node-bridge.ts calls it: an origin-form target on a fixed origin, raw header pairs. */
  const request = async (method: string, target: string, headers: [string, string][] = []) =>
    readAnswer(await app.fetch(liteRequest(`http://api.invalid${target}`, { method, headers })));
  return { fake, supervisor, app, request };
}

t.test('every route on a running process', async (t) => {
  const { fake, supervisor, request } = await setup();
  await supervisor.start('boot');

  const health = await request('GET', '/health');
  t.equal(health.status, 200);
  t.match(health.json, {
    status: 'ok',
    process: { name: 'es', state: 'started', pid: 1000 },
    keystore: null,
    certificates: null,
  });
  t.equal(health.headers.get('content-type'), 'application/json');

  const status = await request('GET', '/es/status');
  t.equal(status.status, 200);
  t.same(
    status.json,
    { ...supervisor.status(), config: null },
    'the status, and no configuration checksum without --config-path',
  );

  const again = await request('POST', '/es/start');
  t.equal(again.status, 200, 'start while started');
  t.equal(again.json.pid, 1000);

  const stopped = await request('POST', '/es/stop');
  t.equal(stopped.status, 200);
  t.match(stopped.json, { state: 'stopped', pid: null, desired: 'stopped', lastExit: { code: 143, signal: null } });

  const started = await request('POST', '/es/start');
  t.equal(started.status, 202);
  t.match(started.json, { state: 'started', pid: 1010, desired: 'started', restarts: 1 });

  const restarted = await request('POST', '/es/restart');
  t.equal(restarted.status, 202);
  t.match(restarted.json, { state: 'started', pid: 1020, restarts: 2 });

  const killed = await request('POST', '/es/kill');
  t.equal(killed.status, 200);
  t.match(killed.json, { state: 'killed', pid: null, desired: 'stopped', lastExit: { code: null, signal: 'SIGKILL' } });
  t.equal((await request('POST', '/es/kill')).status, 200, 'kill while killed');
  t.equal(fake.processes.length, 3);

  const metrics = await request('GET', '/metrics');
  t.equal(metrics.status, 200);
  t.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  t.match(metrics.text, /^pm_process_state\{name="es",state="killed"\} 1$/m);
  t.match(metrics.text, /^pm_process_exits_total\{name="es",cause="kill"\} 1$/m);
  t.notMatch(metrics.text, /pm_keystore_/, 'no keystore families while it is disabled');
});

t.test(
  'a kill during a stop: both answer 200 once the group is gone, without waiting out --stop-timeout',
  async (t) => {
    const { fake, supervisor, request } = await setup({ config: { stopTimeoutMs: 60_000 } });
    await supervisor.start('boot');
    fake.processes[0]!.onTerm = 'ignore';
    const stop = request('POST', '/es/stop');
    await settle();
    const kill = request('POST', '/es/kill');
    const [stopped, killed] = await Promise.all([stop, kill]);
    t.equal(stopped.status, 200);
    t.equal(killed.status, 200);
    t.match(killed.json, { state: 'killed', desired: 'stopped', lastExit: { signal: 'SIGKILL' } });
    t.match(stopped.json, { state: 'killed' });
    t.same(fake.clock.pendingTimers(), []);
  },
);

t.test('a kill during a restart: the restart answers 200 with the killed status', async (t) => {
  const { fake, supervisor, request } = await setup({ config: { stopTimeoutMs: 60_000 } });
  await supervisor.start('boot');
  fake.processes[0]!.onTerm = 'ignore';
  const restart = request('POST', '/es/restart');
  await settle();
  const [restarted, killed] = await Promise.all([restart, request('POST', '/es/kill')]);
  t.equal(restarted.status, 200);
  t.match(restarted.json, { state: 'killed', desired: 'stopped' });
  t.equal(killed.status, 200);
  t.equal(fake.processes.length, 1, 'nothing started again');
});

t.test(
  'start failures: 500 spawn_exception, 503 while starts are held; health degraded after a failed spawn',
  async (t) => {
    const { fake, supervisor, request } = await setup();
    fake.spawnFailures.push('ENOENT');
    const failed = await request('POST', '/es/start');
    t.equal(failed.status, 500);
    t.same(failed.json, { error: { type: 'spawn_exception', reason: 'cannot run --cmd: ENOENT (fake)' }, status: 500 });
    const health = await request('GET', '/health');
    t.equal(health.status, 200);
    t.match(health.json, { status: 'degraded', process: { state: 'failed' } });
    fake.spawnFailures.push('EACCES');
    t.match((await request('POST', '/es/restart')).json, {
      error: { type: 'spawn_exception', reason: /EACCES/ },
      status: 500,
    });

    supervisor.holdStartsWhile(() => 'waiting for the certificate');
    const held = await request('POST', '/es/start');
    t.equal(held.status, 503);
    t.same(held.json, {
      error: { type: 'start_blocked_exception', reason: 'waiting for the certificate' },
      status: 503,
    });
    t.equal((await request('POST', '/es/restart')).status, 503);
  },
);

t.test('health: components that failed make it degraded; 503 shutting_down during shutdown', async (t) => {
  const { supervisor, request } = await setup({ keystore: { state: 'failed' }, certificates: { state: 'ready' } });
  await supervisor.start('boot');
  const health = await request('GET', '/health');
  t.match(health.json, { status: 'degraded', keystore: { state: 'failed' }, certificates: { state: 'ready' } });
  const shutdown = supervisor.shutdown();
  const during = await request('GET', '/health');
  t.equal(during.status, 503);
  t.match(during.json, { status: 'shutting_down', process: { name: 'es' } });
  t.equal(await shutdown, 143);
  const start = await request('POST', '/es/start');
  t.equal(start.status, 503, 'no start once the manager shuts down');
  t.match(start.json, { error: { type: 'shutting_down_exception', reason: 'the manager is shutting down' } });
});

t.test('keystore status and metrics when the updater runs', async (t) => {
  const { request } = await setup({ keystore: { state: 'synced' } });
  const keystore = await request('GET', '/keystore/status');
  t.equal(keystore.status, 200);
  t.same(keystore.json, { state: 'synced' });
  t.match((await request('GET', '/metrics')).text, /^pm_keystore_syncs_total 2$/m);
});

t.test('wrong methods: 405 with Allow; unknown routes: 404; both in the error shape', async (t) => {
  const { fake, request } = await setup();
  for (const route of ['/es/start', '/es/stop', '/es/kill', '/es/restart']) {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const response = await request(method, route);
      t.equal(response.status, 405, `${method} ${route}`);
      t.equal(response.headers.get('allow'), 'POST');
      t.same(response.json, {
        error: { type: 'method_not_allowed_exception', reason: `${route} accepts POST only` },
        status: 405,
      });
    }
  }
  for (const route of ['/health', '/es/status', '/keystore/status', '/metrics']) {
    const response = await request('POST', route);
    t.equal(response.status, 405, `POST ${route}`);
    t.equal(response.headers.get('allow'), 'GET');
    t.match(response.json, ES_ERROR);
  }
  for (const route of ['/', '/nope', '/es', '/es/status/extra', '/other/start', '/ES/status']) {
    const response = await request('GET', route);
    t.equal(response.status, 404, `GET ${route}`);
    t.same(response.json, {
      error: { type: 'resource_not_found_exception', reason: `no route GET ${route}` },
      status: 404,
    });
  }
  const keystore = await request('GET', '/keystore/status');
  t.same(keystore.json, {
    error: { type: 'resource_not_found_exception', reason: 'the keystore updater is disabled' },
    status: 404,
  });
  t.equal(fake.spawnCalls.length, 0, 'none of that touched the process');
});

t.test(
  'request bodies: a small one is tolerated, a larger or chunked one is refused with 413 and Connection: close',
  async (t) => {
    const { request } = await setup();
    t.equal((await request('GET', '/es/status', [['Content-Length', '2']])).status, 200);
    for (const headers of [[['Content-Length', '1025']], [['Transfer-Encoding', 'chunked']]] as [string, string][][]) {
      const response = await request('POST', '/es/stop', headers);
      t.equal(response.status, 413);
      t.equal(response.headers.get('connection'), 'close');
      t.match(response.json, { error: { type: 'request_entity_too_large_exception' }, status: 413 });
    }
  },
);

t.test('mutual TLS required: every route but GET /health refuses a connection that is not TLS', async (t) => {
  const { request } = await setup({ requireClientCertificates: true });
  t.equal((await request('GET', '/health')).status, 200);
  const status = await request('GET', '/es/status');
  t.equal(status.status, 403);
  t.match(status.json, { error: { type: 'security_exception' }, status: 403 });
});

t.test('an unexpected failure: 500 internal_error without details, the details in the log', async (t) => {
  const { fake, supervisor, request } = await setup();
  supervisor.status = () => {
    throw new Error('boom at /secret/path');
  };
  const response = await request('GET', '/es/status');
  t.equal(response.status, 500);
  t.same(response.json, {
    error: { type: 'internal_error', reason: 'internal error; see the manager log' },
    status: 500,
  });
  t.notMatch(response.text, /secret|boom/);
  t.ok(fake.log.records.some((r) => r.level === 'error' && /GET \/es\/status failed: Error: boom/.test(r.message)));
});

t.test('--name moves the process routes', async (t) => {
  const { request } = await setup({ config: { name: 'search' } });
  t.equal((await request('GET', '/search/status')).json.name, 'search');
  t.equal((await request('GET', '/es/status')).status, 404);
  t.equal((await request('GET', '/search/stop')).headers.get('allow'), 'POST');
});

t.test('the app runs on fetch-lite, and a member fetch-lite lacks fails loudly', async (t) => {
  const { Response: LiteResponse } = await import('../../src/http/fetch-lite.ts');
  const { app } = await setup();
  const response = await app.fetch(liteRequest('http://api.invalid/health', { method: 'GET', headers: [] }));
  t.ok(response instanceof LiteResponse, "Hono's answer is fetch-lite's Response, as in the bundle");
  t.throws(
    () => (response as unknown as Record<string, unknown>).ok,
    /fetch-lite's Response has no member 'ok'/,
    'the detector a Hono upgrade would trip',
  );
});

t.test(
  '/health hides every file path from a client that did not prove itself; over the Unix socket they are shown',
  async (t) => {
    const keystore = {
      state: 'failed' as const,
      reason: 'cannot read /volumes/secrets/a: EACCES; retrying at 2026-01-01T00:00:00.000Z',
      sourceDir: '/volumes/secrets',
      keystorePath: '/usr/share/elasticsearch/config/elasticsearch.keystore',
      ignored: [{ name: 'b', reason: 'a symlink to /etc/shadow, outside SOURCE_DIR' }],
      endpoint: 'https://127.0.0.1:9200/',
    };
    const certificates = {
      state: 'failed' as const,
      reason: '--cert-path /mnt/elastic/node-certs/tls.crt: not a certificate',
      certPath: '/mnt/elastic/node-certs/tls.crt',
      csrPath: '/mnt/elastic/node-certs/csr.pem',
    };
    const { app, request } = await setup({ keystore, certificates, requireClientCertificates: true });
    const open = await request('GET', '/health');
    t.equal(open.status, 200);
    t.notMatch(open.text, /\/(volumes|usr|etc|mnt)/, 'no path anywhere in the open answer');
    t.match(open.json, {
      reasons: [
        'the keystore updater failed: cannot read <path>: EACCES; retrying at 2026-01-01T00:00:00.000Z',
        'the cert initializer failed: --cert-path <path>: not a certificate',
      ],
      keystore: {
        sourceDir: '<path>',
        keystorePath: '<path>',
        ignored: [{ name: 'b', reason: 'a symlink to <path>, outside SOURCE_DIR' }],
        endpoint: 'https://127.0.0.1:9200/',
      },
      certificates: { certPath: '<path>', csrPath: '<path>' },
    });
    const socket = readAnswer(
      await app.fetch(liteRequest('http://api.invalid/health', { method: 'GET', headers: [] }), {
        unixSocketPath: '/run/pm/es.sock',
      }),
    );
    t.match((await socket).json, { keystore, certificates }, 'over the Unix socket: as it is');
  },
);

t.test(
  'a mutation answers once its state is on disk; a disk that hangs gets a warning after 10 s, not a hung answer',
  async (t) => {
    const { fake, supervisor, request } = await setup();
    await supervisor.start('boot');
    const stop = request('POST', '/es/stop');
    let answered = false;
    void stop.then(() => (answered = true));
    const write = fake.system.stateStore.write;
    let release = (): void => {};
    fake.system.stateStore.write = (state) =>
      new Promise<void>((resolve) => (release = resolve)).then(() => write(state));
    await fake.clock.advance(9_000);
    t.notOk(answered, 'still waiting for the write at 9 s');
    await fake.clock.advance(1_000);
    const answer = await stop;
    t.equal(answer.status, 200);
    t.match(answer.json, {
      state: 'stopped',
      warnings: [
        'the state file is still being written after 10 s (a slow disk): a container restart now might not know this stop',
      ],
    });
    fake.system.stateStore.write = write;
    release();
    await settle();
    t.equal((await request('POST', '/es/stop')).json.warnings, undefined, 'once written, no warning');
  },
);
