// GET /health says `degraded`, with reasons, whenever a person is needed, and
// `shutting_down` (503) while the manager shuts down; during a shutdown every
// mutation answers 503 at once instead of waiting behind it.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { createHealth } from '../../src/api/health.ts';
import { CERTIFICATE_WAIT_LIMIT_MS } from '../../src/certs/health-reasons.ts';
import type { CertificatesStatus } from '../../src/certs/status.ts';
import { KEYSTORE_SYNC_LIMIT_MS } from '../../src/keystore/health-reasons.ts';
import type { KeystoreStatus } from '../../src/keystore/status.ts';
import { CRASH_WINDOW_MS } from '../../src/supervisor/health-reasons.ts';
import { createApi } from '../../src/api/app.ts';
import { createSupervisor, type Supervisor } from '../../src/supervisor/supervisor.ts';
import { liteRequest } from '../helpers/fetch-lite-globals.ts';
import { createFakeSystem, settle, supervisorConfig } from '../helpers/fake-system.ts';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { startManager, stopManager, tempDir, waitFor } from '../helpers/manager.ts';

/** In process: a supervisor that reports what each case needs. */
function fakeSupervisor(
  overrides: {
    state?: string;
    desired?: string;
    stateFileError?: string | null;
    msSinceUnexpectedExit?: number | null;
    isShuttingDown?: boolean;
    isDraining?: boolean;
  } = {},
) {
  const status = {
    name: 'es',
    state: overrides.state ?? 'started',
    pid: 42,
    since: new Date().toISOString(),
    startedAt: null,
    lastExit: null,
    restarts: 3,
    desired: overrides.desired ?? 'started',
    strays: [],
  };
  return {
    status: () => status,
    stateFileError: () => overrides.stateFileError ?? null,
    msSinceUnexpectedExit: () => overrides.msSinceUnexpectedExit ?? null,
    isShuttingDown: () => overrides.isShuttingDown ?? false,
    isDraining: () => overrides.isDraining ?? false,
  } as unknown as Supervisor;
}
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
/** A status with only the fields a case sets; health reads no others. */
const keystoreAs = (fields: Partial<KeystoreStatus>) => () =>
  ({ reason: '', syncingForMs: null, ...fields }) as KeystoreStatus;
const certificatesAs = (fields: Partial<CertificatesStatus>) => () => ({ reason: '', ...fields }) as CertificatesStatus;

t.test('in process: each reason a person is needed, and its absence', async (t) => {
  const cases: [string, Parameters<typeof createHealth>[0], RegExp | null][] = [
    ['running', { name: 'es', supervisor: fakeSupervisor() }, null],
    [
      'stopped through the API',
      { name: 'es', supervisor: fakeSupervisor({ state: 'stopped', desired: 'stopped' }) },
      null,
    ],
    [
      'spawn failed',
      { name: 'es', supervisor: fakeSupervisor({ state: 'failed' }) },
      /^es should run but is failed: it could not be spawned$/,
    ],
    [
      'restart back-off',
      { name: 'es', supervisor: fakeSupervisor({ state: 'exited' }) },
      /^es should run but is exited: it exited unasked/,
    ],
    [
      'killed from outside but desired started',
      { name: 'es', supervisor: fakeSupervisor({ state: 'killed' }) },
      /should run but is killed/,
    ],
    [
      'crash loop, up for a moment',
      { name: 'es', supervisor: fakeSupervisor({ msSinceUnexpectedExit: 10_000 }) },
      /^es exited unexpectedly 10 s ago \(3 restarts so far\)$/,
    ],
    ['an old crash', { name: 'es', supervisor: fakeSupervisor({ msSinceUnexpectedExit: CRASH_WINDOW_MS + 1 }) }, null],
    [
      'state file not writable',
      { name: 'es', supervisor: fakeSupervisor({ stateFileError: 'EROFS' }) },
      /^the state file cannot be written \(EROFS\)/,
    ],
    [
      'keystore failed',
      {
        name: 'es',
        supervisor: fakeSupervisor(),
        keystoreStatus: keystoreAs({ state: 'failed', reason: 'elasticsearch-keystore exited with 1' }),
      },
      /^the keystore updater failed: elasticsearch-keystore exited with 1$/,
    ],
    [
      'keystore sync stuck',
      {
        name: 'es',
        supervisor: fakeSupervisor(),
        keystoreStatus: keystoreAs({
          state: 'syncing',
          syncingSince: ago(KEYSTORE_SYNC_LIMIT_MS + 1000),
          syncingForMs: KEYSTORE_SYNC_LIMIT_MS + 1000,
        }),
      },
      /^a keystore sync has run for \d+ s \(stuck\?\)$/,
    ],
    [
      'keystore first pass awaited too long',
      {
        name: 'es',
        supervisor: fakeSupervisor(),
        keystoreStatus: keystoreAs({
          state: 'syncing',
          syncingSince: null,
          syncingForMs: KEYSTORE_SYNC_LIMIT_MS + 1000,
        }),
      },
      /^a keystore sync has run for \d+ s \(stuck\?\)$/,
    ],
    [
      'keystore syncing for a while',
      {
        name: 'es',
        supervisor: fakeSupervisor(),
        keystoreStatus: keystoreAs({ state: 'syncing', syncingSince: ago(60_000), syncingForMs: 60_000 }),
      },
      null,
    ],
    [
      'keystore syncing a minute, the wall clock stepped a day',
      {
        name: 'es',
        supervisor: fakeSupervisor(),
        keystoreStatus: keystoreAs({ state: 'syncing', syncingSince: ago(86_400_000), syncingForMs: 60_000 }),
      },
      null,
    ],
    [
      'certificate awaited too long',
      {
        name: 'es',
        supervisor: fakeSupervisor({ state: 'notStarted' }),
        certificatesStatus: certificatesAs({
          state: 'waiting',
          since: ago(CERTIFICATE_WAIT_LIMIT_MS + 60_000),
          forMs: CERTIFICATE_WAIT_LIMIT_MS + 60_000,
        }),
      },
      /^the signed certificate has been awaited for 6 min/,
    ],
    [
      'certificate awaited a little',
      {
        name: 'es',
        supervisor: fakeSupervisor({ state: 'notStarted' }),
        certificatesStatus: certificatesAs({ state: 'waiting', since: ago(60_000), forMs: 60_000 }),
      },
      null,
    ],
    [
      'certificate awaited a minute, the wall clock stepped a day',
      {
        name: 'es',
        supervisor: fakeSupervisor({ state: 'notStarted' }),
        certificatesStatus: certificatesAs({ state: 'waiting', since: ago(86_400_000), forMs: 60_000 }),
      },
      null,
    ],
    [
      'cert initializer failed',
      {
        name: 'es',
        supervisor: fakeSupervisor({ state: 'notStarted' }),
        certificatesStatus: certificatesAs({ state: 'failed', reason: 'bad key' }),
      },
      /^the cert initializer failed: bad key$/,
    ],
    [
      'configuration not checksummed',
      { name: 'es', supervisor: fakeSupervisor(), configProblem: () => 'a file cannot be read: larger than 1 MiB' },
      /^the mounted configuration has no checksum: a file cannot be read: larger than 1 MiB$/,
    ],
    ['configuration checksummed', { name: 'es', supervisor: fakeSupervisor(), configProblem: () => undefined }, null],
  ];
  for (const [what, sources, reason] of cases) {
    const { httpStatus, body } = createHealth(sources)();
    t.equal(httpStatus, 200, `${what}: 200`);
    if (reason === null) t.match(body, { status: 'ok', reasons: [] }, `${what}: ok`);
    else {
      t.equal(body.status, 'degraded', `${what}: degraded`);
      t.equal(body.reasons.length, 1, `${what}: one reason`);
      t.match(body.reasons[0], reason, `${what}: says why`);
    }
  }
  const shutting = createHealth({ name: 'es', supervisor: fakeSupervisor({ isShuttingDown: true }) })();
  t.match(
    shutting,
    { httpStatus: 503, body: { status: 'shutting_down', process: { name: 'es' } } },
    'shutting down: 503',
  );
  const draining = createHealth({
    name: 'es',
    supervisor: fakeSupervisor({ isShuttingDown: true, isDraining: true }),
  })();
  t.match(draining, { httpStatus: 200, body: { status: 'ok' } }, "draining before the shutdown's stop: still 200");
});

t.test('a crash loop under --on-exit restart is degraded while it waits to restart', async (t) => {
  const dir = tempDir();
  const manager = await startManager({
    args: ['--cmd', '/bin/sh', '--on-exit', 'restart', '--state-file', path.join(dir, 's.json'), '--', '-c', 'exit 1'],
  });
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['event.action'] === 'restart-scheduled', 'a restart to be scheduled');
  const health = await waitFor(async () => {
    const h = await manager.request('GET', '/health');
    return h.json.process.state === 'exited' ? h : undefined;
  }, 'health during the back-off');
  t.equal(health.status, 200);
  t.equal(health.json.status, 'degraded');
  t.match(health.json.reasons.join('\n'), /es should run but is exited/);
});

t.test('a state file that cannot be written is degraded', async (t) => {
  const run = await startOnFakeEs();
  t.teardown(() => stopManager(run.manager));
  await run.pids();
  t.equal((await run.manager.request('GET', '/health')).json.status, 'ok', 'ok at first');
  // A directory where the state file goes: the rename over it fails, even for root.
  fs.rmSync(run.stateFile);
  fs.mkdirSync(run.stateFile);
  fs.writeFileSync(path.join(run.stateFile, 'keep'), '');
  t.equal((await run.manager.request('POST', '/es/stop')).status, 200, 'the stop itself works');
  const health = await run.manager.request('GET', '/health');
  t.equal(health.json.status, 'degraded');
  t.match(health.json.reasons, [
    /^the state file cannot be written \(E[A-Z]+\): a container restart would forget a stop$/,
  ]);
  t.notMatch(JSON.stringify(health.json.reasons), run.dir, 'the reason names no path');
  fs.rmSync(run.stateFile, { recursive: true });
  t.equal((await run.manager.request('POST', '/es/start')).status, 202);
  t.equal((await run.manager.request('GET', '/health')).json.status, 'ok', 'ok again once a write succeeds');
});

t.test('while the manager shuts down: /health 503 shutting_down, every mutation 503 at once', async (t) => {
  const run = await startOnFakeEs({ args: ['--shutdown-timeout', '10m'], env: { FAKE_ES_ON_TERM: 'ignore' } });
  const { manager } = run;
  t.teardown(() => {
    manager.child.kill('SIGTERM'); // a second one: SIGKILL at once
    return stopManager(manager);
  });
  await run.pids();
  manager.child.kill('SIGTERM');
  await manager.waitForLog((r) => r['process.state'] === 'stopping', 'the shutdown to begin');
  const health = await manager.request('GET', '/health');
  t.equal(health.status, 503);
  t.equal(health.json.status, 'shutting_down');
  for (const action of ['stop', 'start', 'restart', 'kill']) {
    const answer = await manager.request('POST', `/es/${action}`);
    t.equal(answer.status, 503, `${action}: 503`);
    t.match(answer.json, {
      error: { type: 'shutting_down_exception', reason: 'the manager is shutting down' },
      status: 503,
    });
  }
  t.equal(
    (await manager.status()).state,
    'stopping',
    'answered while the shutdown still waits: nothing queued behind it',
  );
});

t.test(
  'in process: a stop sent while the shutdown waits on a process ignoring SIGTERM answers 503, not after the shutdown',
  async (t) => {
    const fake = createFakeSystem();
    fake.processDefaults.onTerm = 'ignore';
    const supervisor = createSupervisor(supervisorConfig({ shutdownTimeoutMs: 600_000 }), {
      log: fake.log,
      onExitRequested: () => {},
      system: fake.system,
    });
    supervisor.takeOverStateFile();
    const app = createApi({ name: 'es', supervisor, log: fake.log });
    await supervisor.start('boot');
    let isShutdownOver = false;
    void supervisor.shutdown().then(() => (isShutdownOver = true));
    await settle();
    // The fake clock never moves here: a stop queued behind the shutdown would stay pending for good.
    const answer = Promise.resolve(
      app.fetch(liteRequest('http://api.invalid/es/stop', { method: 'POST', headers: [] })),
    );
    const stillPending = (async () => {
      for (let i = 0; i < 20; i++) await settle();
      return 'still pending' as const;
    })();
    const response = await Promise.race([answer, stillPending]);
    if (response === 'still pending') return t.fail('the stop waits behind the shutdown instead of answering');
    t.equal(response.status, 503);
    t.match(JSON.parse(await response.text()), { error: { type: 'shutting_down_exception' }, status: 503 });
    t.notOk(isShutdownOver, 'answered while the shutdown still waits for its timeout');
    supervisor.killNow();
  },
);

t.test(
  'in process, on the real supervisor: a crash loop stays degraded while the process is up, then clears; so does an unwritable state file',
  async (t) => {
    const fake = createFakeSystem();
    const supervisor = createSupervisor(supervisorConfig({ onExit: 'restart' }), {
      log: fake.log,
      onExitRequested: () => {},
      system: fake.system,
    });
    supervisor.takeOverStateFile();
    const health = createHealth({ name: 'es', supervisor });
    await supervisor.start('boot');
    t.same(health().body.reasons, [], 'running: ok');

    fake.processes[0].exit({ code: 1, signal: null });
    await settle();
    const inBackoff = health().body.reasons;
    t.equal(inBackoff.length, 1, 'one reason, not the crash twice');
    t.match(inBackoff[0], /^es should run but is exited: it exited unasked/, 'in the back-off');
    await fake.clock.advance(1_000);
    t.equal(supervisor.status().state, 'started', 'restarted after 1 s');
    t.match(
      health().body,
      { status: 'degraded', reasons: [/^es exited unexpectedly 1 s ago \(1 restarts so far\)$/] },
      'up again, still degraded',
    );
    await fake.clock.advance(CRASH_WINDOW_MS);
    t.same(health().body.reasons, [], `${CRASH_WINDOW_MS / 1000} s later: ok`);
    t.match(
      fake.log.records.find((r) => r.fields['event.action'] === 'process-exit'),
      { level: 'error', fields: { 'event.reason': 'unexpected' } },
      'the crash was logged as an error',
    );

    fake.stateWriteError = Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
    await supervisor.stop();
    t.same(health().body.reasons, [
      'the state file cannot be written (EROFS): a container restart would forget a stop',
    ]);
    fake.stateWriteError = null;
    await supervisor.start();
    t.same(health().body.reasons, [], 'a write that succeeds clears it');
  },
);

t.test(
  'in process: a crash recorded before a container restart keeps /health degraded for the rest of its window; the boot says so at warn',
  async (t) => {
    const now = Date.parse('2026-01-01T00:00:00.000Z'); // the fake clock's start
    for (const [agoMs, reason] of [
      [30_000, /^es exited unexpectedly 30 s ago \(4 restarts so far\)$/],
      [CRASH_WINDOW_MS + 1_000, null],
    ] as const) {
      const at = new Date(now - agoMs).toISOString();
      const fake = createFakeSystem({
        kind: 'valid',
        state: {
          version: 1,
          name: 'es',
          desired: 'started',
          state: 'exited',
          lastExit: { code: 1, signal: null, at },
          restarts: 3,
          updatedAt: at,
        },
      });
      const supervisor = createSupervisor(supervisorConfig(), {
        log: fake.log,
        onExitRequested: () => {},
        system: fake.system,
      });
      t.equal(supervisor.restoreFromStateFile(), true);
      supervisor.takeOverStateFile();
      await supervisor.start('boot');
      const { body } = createHealth({ name: 'es', supervisor })();
      if (reason) t.match(body, { status: 'degraded', reasons: [reason] }, `${agoMs / 1000} s ago: degraded`);
      else t.match(body, { status: 'ok', reasons: [] }, `${agoMs / 1000} s ago: outside the window, ok`);
      const boot = fake.log.records.find((r) => r.fields['event.action'] === 'state-file');
      t.match(
        boot,
        {
          level: 'warn',
          message: new RegExp(
            `^state file says es exited unexpectedly \\(code 1\\) ${agoMs / 1000} s ago, before this container restart`,
          ),
        },
        'the boot after a crash is a warning',
      );
      if (reason) {
        await fake.clock.advance(CRASH_WINDOW_MS - agoMs + 1);
        t.same(createHealth({ name: 'es', supervisor })().body.reasons, [], 'ok once the window has passed');
      }
    }
  },
);
