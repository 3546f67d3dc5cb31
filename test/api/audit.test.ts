// Who asked: every mutation is logged with the client's address and, under
// mutual TLS, its certificate's subject; refused requests are logged at warn,
// rate-limited.

import path from 'node:path';
import t from 'tap';
import type { Context } from 'hono';
import { createAudit, REFUSALS_PER_WINDOW, REFUSAL_WINDOW_MS } from '../../src/api/audit.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { FAKE_ES, startManager, stopManager, tempDir } from '../helpers/manager.ts';
import { createTestCa } from '../helpers/openssl.ts';
import { issue, mutualTlsFiles, tlsRequest } from '../helpers/tls-client.ts';

t.test('a mutation over plain HTTP is logged with the client address, before it runs', async (t) => {
  const run = await startOnFakeEs();
  t.teardown(() => stopManager(run.manager));
  await run.pids();
  t.equal((await run.manager.request('POST', '/es/restart')).status, 202);
  // Log lines and answers travel apart: wait for the line, never assume it came first.
  const audit = await run.manager.waitForLog((r) => r['event.action'] === 'audit', 'the audit line');
  await run.manager.waitForLog(
    (r) => r['process.state'] === 'started' && run.manager.logs.indexOf(r) > run.manager.logs.indexOf(audit),
    'the restart to finish',
  );
  t.match(audit, {
    'log.level': 'info',
    'http.request.method': 'POST',
    'url.path': '/es/restart',
    'client.address': '127.0.0.1',
    'client.port': Number,
    message: /^POST \/es\/restart from 127\.0\.0\.1$/,
  });
  const stopping = run.manager.logs.findIndex((r) => r['process.state'] === 'stopping');
  t.ok(run.manager.logs.indexOf(audit) < stopping, 'before the transitions it causes');
  await run.manager.request('GET', '/es/status');
  t.equal(run.manager.logs.filter((r) => r['event.action'] === 'audit').length, 1, 'reads are not audited');
});

t.test('under mutual TLS: the certificate subject; refusals at warn with who was refused', async (t) => {
  const dir = tempDir();
  const { serverCa, clientCa, args: tlsArgs } = mutualTlsFiles(dir);
  const foreignCa = createTestCa(path.join(dir, 'foreign-ca'));
  const manager = await startManager({
    args: ['--cmd', FAKE_ES, '--state-file', path.join(dir, 's.json'), '--http-host', '127.0.0.1', ...tlsArgs],
  });
  t.teardown(() => stopManager(manager));
  const trust = serverCa.certPem;
  const operator = issue(clientCa, path.join(dir, 'issued'), 'operator');
  t.equal((await tlsRequest(manager.port, '/es/stop', { trust, client: operator, method: 'POST' })).status, 200);
  t.match(await manager.waitForLog((r) => r['event.action'] === 'audit', 'the audit line'), {
    'client.address': '127.0.0.1',
    'tls.client.subject': /CN=operator/,
    message: /^POST \/es\/stop from 127\.0\.0\.1 \(.*CN=operator.*\)$/,
  });

  t.equal((await tlsRequest(manager.port, '/es/kill', { trust, method: 'POST' })).status, 401);
  t.equal(
    (
      await tlsRequest(manager.port, '/es/kill', {
        trust,
        method: 'POST',
        client: issue(foreignCa, path.join(dir, 'issued'), 'intruder'),
      })
    ).status,
    403,
  );
  await manager.waitForLog((r) => r['http.response.status_code'] === 403, 'the second refusal');
  const refusals = manager.logs.filter((r) => r['event.action'] === 'access-refused');
  t.match(refusals, [
    { 'log.level': 'warn', 'http.response.status_code': 401, 'url.path': '/es/kill', 'client.address': '127.0.0.1' },
    { 'log.level': 'warn', 'http.response.status_code': 403, 'tls.client.subject': /CN=intruder/ },
  ]);
  t.equal(manager.logs.filter((r) => r['event.action'] === 'audit').length, 1, 'a refused request is not a mutation');
});

t.test('refusals are rate-limited: a burst logs a few lines, then one that counts the rest', async (t) => {
  const lines: any[] = [];
  let now = 0;
  const timers: { at: number; fn: () => void }[] = [];
  const audit = createAudit(
    createLogger((line) => lines.push(JSON.parse(line))),
    {
      monotonicMs: () => now,
      setTimer: (ms, fn) => {
        timers.push({ at: now + ms, fn });
        return () => {};
      },
    },
  );
  const c = { req: { method: 'POST', path: '/es/stop' }, env: undefined } as unknown as Context;
  for (let i = 0; i < 100; i++) {
    now += 10;
    audit.refused(c, 401, 'no certificate');
  }
  t.equal(lines.length, REFUSALS_PER_WINDOW, `${REFUSALS_PER_WINDOW} of 100 logged`);
  t.equal(timers.length, 1, 'one count is scheduled');
  t.equal(timers[0].at, 10 + REFUSAL_WINDOW_MS, 'for the end of the window');
  now = timers[0].at;
  timers[0].fn();
  t.match(lines.at(-1), {
    'log.level': 'warn',
    'event.action': 'access-refused',
    'refusals.suppressed': 100 - REFUSALS_PER_WINDOW,
    message: /^90 more refused requests were not logged/,
  });
  now += 1;
  audit.refused(c, 403, 'foreign');
  t.match(
    lines.at(-1),
    { 'http.response.status_code': 403, message: /^refused POST \/es\/stop from unknown: 403 foreign$/ },
    'a new window logs again',
  );
  t.equal(timers.length, 1, 'nothing more to count');
});
