// Every route and status code of the process API, on the ES-like fake.

import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { isAlive, stopManager } from '../helpers/manager.ts';

const ES_ERROR = { error: { type: String, reason: String }, status: Number };

t.test('the process API, route by route', async (t) => {
  const run = await startOnFakeEs({ env: { KEYSTORE_UPDATER: 'false' } });
  const { manager } = run;
  t.teardown(() => stopManager(manager));
  const [launcher, server, controller] = await run.pids();

  const health = await manager.request('GET', '/health');
  t.equal(health.status, 200);
  t.match(health.json, {
    status: 'ok',
    process: { name: 'es', state: 'started', pid: launcher },
    keystore: null,
    certificates: null,
  });

  const status = await manager.request('GET', '/es/status');
  t.equal(status.status, 200);
  t.match(status.json, {
    name: 'es',
    state: 'started',
    pid: launcher,
    lastExit: null,
    restarts: 0,
    desired: 'started',
  });
  t.equal(status.headers.get('content-type'), 'application/json');

  const again = await manager.request('POST', '/es/start');
  t.equal(again.status, 200, 'start while started: 200');
  t.equal(again.json.pid, launcher, 'and still the same process');

  const stopped = await manager.request('POST', '/es/stop');
  t.equal(stopped.status, 200);
  t.match(stopped.json, { state: 'stopped', pid: null, desired: 'stopped', lastExit: { code: 143, signal: null } });
  t.notOk([launcher, server, controller].some(isAlive), 'nothing of the group is left when stop answers');

  const stoppedAgain = await manager.request('POST', '/es/stop');
  t.equal(stoppedAgain.status, 200, 'stop while stopped: 200');
  t.equal(stoppedAgain.json.state, 'stopped');

  const started = await manager.request('POST', '/es/start');
  t.equal(started.status, 202);
  t.match(started.json, { state: 'started', desired: 'started', restarts: 1 });
  const second = await run.pids([launcher]);
  t.equal(started.json.pid, second[0], 'the status names the new process');

  const restarted = await manager.request('POST', '/es/restart');
  t.equal(restarted.status, 202);
  const third = await run.pids(second);
  t.equal(restarted.json.pid, third[0]);
  t.not(third[0], second[0], 'a new pid');
  t.notOk(second.some(isAlive), 'no survivor of the old group');
  t.equal(restarted.json.restarts, 2);

  const killed = await manager.request('POST', '/es/kill');
  t.equal(killed.status, 200);
  t.match(killed.json, { state: 'killed', pid: null, desired: 'stopped', lastExit: { code: null, signal: 'SIGKILL' } });
  t.notOk(third.some(isAlive), 'kill answers once the whole group is gone');
  t.equal((await manager.request('POST', '/es/kill')).status, 200, 'kill while killed: 200');
});

t.test('wrong methods, unknown routes, disabled components', async (t) => {
  const run = await startOnFakeEs({ env: { KEYSTORE_UPDATER: 'false' } });
  const { manager } = run;
  t.teardown(() => stopManager(manager));
  for (const route of ['/es/start', '/es/stop', '/es/kill', '/es/restart']) {
    const response = await manager.request('GET', route);
    t.equal(response.status, 405, `GET ${route}`);
    t.equal(response.headers.get('allow'), 'POST');
    t.match(response.json, { ...ES_ERROR, error: { type: 'method_not_allowed_exception' }, status: 405 });
  }
  for (const route of ['/health', '/es/status']) {
    const response = await manager.request('DELETE', route);
    t.equal(response.status, 405, `DELETE ${route}`);
    t.equal(response.headers.get('allow'), 'GET');
  }
  for (const route of ['/', '/nope', '/es', '/es/status/extra', '/other/start']) {
    const response = await manager.request('GET', route);
    t.equal(response.status, 404, `GET ${route}`);
    t.match(response.json, { ...ES_ERROR, error: { type: 'resource_not_found_exception' }, status: 404 });
  }
  const keystore = await manager.request('GET', '/keystore/status');
  t.equal(keystore.status, 404, 'keystore status while the updater is disabled');
  t.match(keystore.json, { error: { reason: 'the keystore updater is disabled' } });
  t.equal((await manager.status()).state, 'started', 'none of that touched the process');
});

t.test('a custom --name moves the routes', async (t) => {
  const run = await startOnFakeEs({ args: ['--name', 'search'] });
  const { manager } = run;
  t.teardown(() => stopManager(manager));
  t.equal((await manager.request('GET', '/search/status')).json.name, 'search');
  t.equal((await manager.request('GET', '/es/status')).status, 404);
});

t.test('a command that cannot run: start fails with a clear error, the manager stays up', async (t) => {
  const { startManager, tempDir } = await import('../helpers/manager.ts');
  const dir = tempDir();
  const manager = await startManager({ args: ['--cmd', `${dir}/missing`, '--state-file', `${dir}/state.json`] });
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['process.state'] === 'failed', 'the boot start to fail');
  const health = await manager.request('GET', '/health');
  t.equal(health.status, 200);
  t.equal(health.json.status, 'degraded', 'health says degraded');
  const start = await manager.request('POST', '/es/start');
  t.equal(start.status, 500);
  t.match(start.json, { error: { type: 'spawn_exception', reason: /ENOENT/ }, status: 500 });
  t.equal((await manager.status()).state, 'failed');
});
