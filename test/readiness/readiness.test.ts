// GET /NAME/ready and --drain-delay in process: the app over a real
// supervisor on fake processes and a fake clock, and a check that counts its
// calls, so every state, the drain's timing and the check's reuse are facts
// the test sets, not waits.

import '../helpers/fetch-lite-globals.ts';
import { liteRequest } from '../helpers/fetch-lite-globals.ts';
import t from 'tap';
import { createApi } from '../../src/api/app.ts';
import type { Config } from '../../src/config/config.ts';
import { type CheckResult, createEsCheck, type EsCheck, NO_CHECK } from '../../src/readiness/es-check.ts';
import { CHECK_REUSE_MS, createReadiness } from '../../src/readiness/readiness.ts';
import { createSupervisor } from '../../src/supervisor/supervisor.ts';
import { createFakeSystem, settle, supervisorConfig } from '../helpers/fake-system.ts';
import { readAnswer } from '../helpers/manager.ts';

/** A check whose answer the test sets, and which can be held in flight. */
function countingCheck() {
  let answer: CheckResult = { ok: true };
  let gate: Promise<void> | null = null;
  const check: EsCheck & { calls: number; answer: CheckResult; hold(): () => void } = {
    calls: 0,
    get answer() {
      return answer;
    },
    set answer(value) {
      answer = value;
    },
    async run() {
      check.calls++;
      if (gate) await gate;
      return answer;
    },
    async close() {},
    hold() {
      let release = () => {};
      gate = new Promise((resolve) => (release = resolve));
      return () => {
        gate = null;
        release();
      };
    },
  };
  return check;
}

function setup(config: Partial<Config> = {}) {
  const fake = createFakeSystem();
  const cfg = supervisorConfig(config);
  const supervisor = createSupervisor(cfg, { log: fake.log, onExitRequested: () => {}, system: fake.system });
  // As the manager does before it serves: until then the API waits on state writes that never begin.
  supervisor.takeOverStateFile();
  const check = countingCheck();
  const readiness = createReadiness({
    name: cfg.name,
    supervisor,
    log: fake.log,
    check,
    monotonicMs: () => fake.clock.monotonicMs(),
  });
  const app = createApi({ name: cfg.name, supervisor, log: fake.log, readiness });
  const request = async (method: string, target: string) =>
    readAnswer(await app.fetch(liteRequest(`http://api.invalid${target}`, { method, headers: [] })));
  const ready = () => request('GET', '/es/ready');
  const terms = () => fake.signals.filter((s) => s.signal === 'SIGTERM');
  return { fake, supervisor, check, readiness, request, ready, terms };
}

t.test('not_started, ready, not_answering: each transition logged once', async (t) => {
  const { fake, supervisor, check, ready } = setup();
  let answer = await ready();
  t.equal(answer.status, 503);
  t.match(answer.json, { ready: false, reason: 'not_started', state: 'notStarted' });
  t.equal(check.calls, 0, 'no check while nothing runs');

  await supervisor.start('boot');
  answer = await ready();
  t.equal(answer.status, 200);
  t.same(answer.json, { ready: true, reason: null, message: 'es is started and answers', state: 'started' });

  check.answer = {
    ok: false,
    summary: 'Elasticsearch answered HTTP 503 (no elected master yet?)',
    detail: 'GET https://127.0.0.1:9200/ 503',
  };
  await fake.clock.advance(CHECK_REUSE_MS);
  answer = await ready();
  t.equal(answer.status, 503);
  t.match(answer.json, {
    ready: false,
    reason: 'not_answering',
    message: 'Elasticsearch answered HTTP 503 (no elected master yet?)',
  });
  await fake.clock.advance(CHECK_REUSE_MS);
  await ready();

  const transitions = fake.log.records.filter((r) => r.fields['event.action'] === 'readiness');
  t.same(
    transitions.map((r) => [r.level, r.fields['event.reason']]),
    [
      ['info', 'not_started'],
      ['info', 'ready'],
      ['info', 'not_answering'],
    ],
    'one line per transition, not per probe',
  );
  t.match(
    transitions[2].message,
    /GET https:\/\/127\.0\.0\.1:9200\/ 503/,
    'the log has the detail the probe body leaves out',
  );
});

t.test('50 probes at once cost one check; a result is reused for 1 s, and never for a new process', async (t) => {
  const { fake, supervisor, check, ready } = setup();
  await supervisor.start('boot');
  const release = check.hold();
  const probes = Array.from({ length: 50 }, () => ready());
  await settle();
  t.equal(check.calls, 1, 'one check in flight for all of them');
  release();
  const answers = await Promise.all(probes);
  t.ok(answers.every((a) => a.status === 200));

  await fake.clock.advance(CHECK_REUSE_MS - 1);
  for (let i = 0; i < 20; i++) await ready();
  t.equal(check.calls, 1, 'within the second: the same result');
  await fake.clock.advance(1);
  await ready();
  t.equal(check.calls, 2, 'after it: a new check');

  await supervisor.restart();
  await ready();
  t.equal(check.calls, 3, 'a restarted process is checked anew at once');
});

t.test('a stop that begins during a check wins over its result', async (t) => {
  const { supervisor, check, ready } = setup({ drainDelayMs: 10_000 });
  await supervisor.start('boot');
  const release = check.hold();
  const probe = ready();
  await settle();
  const stop = supervisor.stop();
  await settle();
  release();
  t.match((await probe).json, { ready: false, reason: 'stopping' });
  void stop;
});

t.test('--drain-delay: not ready at once, SIGTERM only D later, /health 200 meanwhile', async (t) => {
  const { fake, supervisor, ready, request, terms, readiness } = setup({ drainDelayMs: 20_000 });
  await supervisor.start('boot');
  t.equal((await ready()).status, 200);
  const stop = supervisor.stop();
  await settle();
  const during = await ready();
  t.equal(during.status, 503);
  t.match(during.json, { ready: false, reason: 'stopping', state: 'started' });
  t.equal(readiness.gauge(), 0, 'pm_ready drops at once too');
  t.equal((await request('GET', '/health')).status, 200);
  t.equal(terms().length, 0, 'no SIGTERM yet');
  await fake.clock.advance(19_999);
  t.equal(terms().length, 0, 'none a millisecond before D');
  await fake.clock.advance(1);
  t.equal(terms().length, 1, 'SIGTERM at D');
  await stop;
  t.equal(supervisor.status().state, 'stopped');
  t.match((await ready()).json, { reason: 'not_started' });
  t.match(fake.log.records.find((r) => r.fields['event.action'] === 'drain')?.message, /SIGTERM in 20000 ms \(stop\)/);
});

t.test('a restart drains too; the restarted process is ready again', async (t) => {
  const { fake, supervisor, ready, terms } = setup({ drainDelayMs: 5_000 });
  await supervisor.start('boot');
  const restart = supervisor.restart();
  await settle();
  t.match((await ready()).json, { reason: 'stopping' });
  await fake.clock.advance(5_000);
  t.match(await restart, { kind: 'started' });
  t.equal(terms().length, 1);
  t.equal((await ready()).status, 200);
});

t.test('kill never waits: it cuts a drain with SIGKILL and no SIGTERM', async (t) => {
  const { fake, supervisor, request, terms } = setup({ drainDelayMs: 60_000 });
  await supervisor.start('boot');
  const stop = request('POST', '/es/stop');
  await settle();
  const killed = await request('POST', '/es/kill');
  t.equal(killed.status, 200);
  t.match(killed.json, { state: 'killed', desired: 'stopped', lastExit: { signal: 'SIGKILL' } });
  t.equal((await stop).status, 200, 'the stop it cut answers too');
  t.equal(terms().length, 0, 'no SIGTERM was sent');
  t.equal(fake.clock.pendingTimers().length, 0, 'the drain timer is gone');
  t.equal(supervisor.counters.exits.kill, 1);
});

t.test("a kill during a restart's drain: killed, not started again", async (t) => {
  const { supervisor, fake } = setup({ drainDelayMs: 60_000 });
  await supervisor.start('boot');
  const restart = supervisor.restart();
  await settle();
  await supervisor.kill();
  t.match(await restart, { kind: 'killedDuringRestart' });
  t.equal(fake.processes.length, 1);
});

t.test('shutdown drains: /health stays 200 during the drain, 503 after; a second signal cuts it', async (t) => {
  const { fake, supervisor, request, ready } = setup({ drainDelayMs: 30_000 });
  await supervisor.start('boot');
  const shutdown = supervisor.shutdown();
  await settle();
  t.equal((await request('GET', '/health')).status, 200, 'alive while draining');
  t.match((await ready()).json, { reason: 'stopping' });
  t.equal((await request('POST', '/es/start')).status, 503, 'mutations refused as in any shutdown');
  supervisor.killNow();
  t.equal(await shutdown, 137, 'exits with the SIGKILL status, at once');
  t.equal(fake.signals.filter((s) => s.signal === 'SIGTERM').length, 0);
  t.equal(supervisor.status().desired, 'started', 'a shutdown keeps the intent for the next container');
  t.equal((await request('GET', '/health')).status, 503);
});

t.test('an exit during the drain ends it at once', async (t) => {
  const { fake, supervisor } = setup({ drainDelayMs: 60_000 });
  await supervisor.start('boot');
  const stop = supervisor.stop();
  await settle();
  fake.processes[0].exit({ code: 0, signal: null });
  await stop;
  t.equal(supervisor.status().state, 'stopped');
  t.equal(supervisor.counters.exits.stop, 1, 'counted as the stop it was asked as');
});

t.test('pm_ready in /metrics; /NAME/ready open to probes under mutual TLS', async (t) => {
  const { supervisor, request, ready } = setup();
  t.match((await request('GET', '/metrics')).text, /\npm_ready\{name="es"\} 0\n/);
  await supervisor.start('boot');
  await ready();
  t.match((await request('GET', '/metrics')).text, /\npm_ready\{name="es"\} 1\n/);

  const fake = createFakeSystem();
  const cfg = supervisorConfig();
  const app = createApi({
    name: 'es',
    supervisor: createSupervisor(cfg, { log: fake.log, onExitRequested: () => {}, system: fake.system }),
    log: fake.log,
    requireClientCertificates: true,
  });
  const get = async (target: string) =>
    readAnswer(await app.fetch(liteRequest(`http://api.invalid${target}`, { method: 'GET', headers: [] })));
  t.equal((await get('/es/ready')).status, 503, 'answered (not 403) without a client certificate');
  t.equal((await get('/es/status')).status, 403);
});

t.test('a ready answer says what was asked: ES (http), its readiness port (tcp), or nothing (none)', async (t) => {
  const es = {
    mode: 'false',
    sourceDir: '',
    binary: '',
    keystorePath: '',
    reload: false,
    certificatesPath: '',
    endpoint: 'https://127.0.0.1:9200',
  } as const;
  const cases: [string, EsCheck, string][] = [
    ['none', NO_CHECK, 'es is started (Elasticsearch itself is not asked: --ready-check none)'],
    [
      'tcp',
      { ...createEsCheck({ kind: 'tcp', port: 9399 }, es, 1_000), run: async () => ({ ok: true }) },
      'es is started and its readiness port 9399 accepts connections',
    ],
    [
      'http',
      { ...createEsCheck({ kind: 'http' }, es, 1_000), run: async () => ({ ok: true }) },
      'es is started and answers',
    ],
  ];
  for (const [kind, check, message] of cases) {
    const fake = createFakeSystem();
    const cfg = supervisorConfig();
    const supervisor = createSupervisor(cfg, { log: fake.log, onExitRequested: () => {}, system: fake.system });
    supervisor.takeOverStateFile();
    const readiness = createReadiness({ name: cfg.name, supervisor, log: fake.log, check });
    await supervisor.start('boot');
    t.same(await readiness.probe(), { ready: true, reason: null, message, state: 'started' }, kind);
    const logged = fake.log.records.find((r) => r.fields['event.reason'] === 'ready');
    t.equal(logged?.message, `es is ready: ${message}`, `${kind}: the log says it too`);
  }
});
