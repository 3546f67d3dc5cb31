// Mutations are serialized: a request waits for the one before it.

import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { processTable } from '../helpers/procfs.ts';
import { FAKE_ES, isAlive, stopManager } from '../helpers/manager.ts';
import fs from 'node:fs';

function fakeEsLaunchers(): number[] {
  return processTable()
    .filter((p) => p.comm === 'fake-es' && p.state !== 'Z')
    .filter((p) => fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes(FAKE_ES))
    .map((p) => p.pid);
}

t.test('two starts at once give one process', async (t) => {
  const run = await startOnFakeEs();
  t.teardown(() => stopManager(run.manager));
  const first = await run.pids();
  await run.manager.request('POST', '/es/stop');
  const before = new Set(fakeEsLaunchers());
  const [a, b] = await Promise.all([
    run.manager.request('POST', '/es/start'),
    run.manager.request('POST', '/es/start'),
  ]);
  t.same([a.status, b.status].sort(), [200, 202], 'one started it, the other found it started');
  t.equal(a.json.pid, b.json.pid, 'both name the same process');
  const launched = await run.pids(first);
  const ours = fakeEsLaunchers().filter((pid) => !before.has(pid));
  t.same(ours, [launched[0]], 'exactly one fake ES runs');
});

t.test('a stop sent while a start is in flight ends stopped', async (t) => {
  const run = await startOnFakeEs();
  t.teardown(() => stopManager(run.manager));
  const first = await run.pids();
  await run.manager.request('POST', '/es/stop');
  const [start, stop] = await Promise.all([
    run.manager.request('POST', '/es/start'),
    run.manager.request('POST', '/es/stop'),
  ]);
  t.equal(start.status, 202);
  t.equal(stop.status, 200);
  t.equal(stop.json.state, 'stopped');
  t.equal((await run.manager.status()).state, 'stopped');
  t.notOk(isAlive(start.json.pid), 'the process the start made is gone');
  t.notOk(first.some(isAlive));
});

t.test('many mixed requests at once leave a consistent state', async (t) => {
  const run = await startOnFakeEs();
  t.teardown(() => stopManager(run.manager));
  await run.pids();
  const routes = ['/es/stop', '/es/start', '/es/restart', '/es/kill', '/es/start', '/es/stop', '/es/start'];
  const answers = await Promise.all(routes.map((route) => run.manager.request('POST', route)));
  t.ok(
    answers.every((a) => a.status === 200 || a.status === 202),
    'all answered',
  );
  const status = await run.manager.status();
  t.equal(status.state, 'started', 'the last request (a start) won');
  t.same(
    fakeEsLaunchers().filter((pid) => pid === status.pid),
    [status.pid],
  );
  t.equal(
    fakeEsLaunchers().filter((pid) => pid !== status.pid && answers.some((a) => a.json.pid === pid)).length,
    0,
    'no earlier process survives',
  );
});
