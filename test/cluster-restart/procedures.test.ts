// cluster-restart against three real managers (each PID 1 of its own PID
// namespace, mutual TLS on 127.0.0.2-4) supervising fake nodes of one fake ES
// cluster: the dry run, a rolling and a full restart, a cluster that refuses.

import t from 'tap';
import { NODE_NAMES, restart, startFakeCluster } from '../helpers/es-cluster.ts';
import { waitFor } from '../helpers/manager.ts';

const cluster = await startFakeCluster();
t.teardown(() => cluster.close());

const ALLOCATION = 'cluster.routing.allocation.enable';

t.test('--dry-run prints the plan, the elected master last, and changes nothing', async (t) => {
  await cluster.reset();
  const before = cluster.starts();
  const master = (await cluster.state()).master;
  const run = await restart([...cluster.baseArgs, '--dry-run']);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /dry run, nothing will change: rolling restart of 3 node\(s\)/);
  const order = [...run.stdout.matchAll(/^ {2}\d\. (es-\d)/gm)].map((m) => m[1]);
  t.same(order.toSorted(), NODE_NAMES, 'every node');
  t.equal(order.at(-1), master, 'the elected master last');
  t.match(run.stdout, /via https:\/\/127\.0\.0\.[234]:\d+/, 'managers found from ES publish addresses');
  t.same(cluster.starts(), before, 'no process restarted');
  const state = await cluster.state();
  t.same(
    state.calls.filter((c: string) => !c.startsWith('GET ')),
    [],
    'only reads',
  );
});

t.test('rolling: each node once, never two down, the master last, allocation back, green', async (t) => {
  await cluster.reset();
  const before = cluster.starts();
  const master = (await cluster.state()).master;
  const run = await restart([...cluster.baseArgs, '--mode', 'rolling']);
  t.equal(run.code, 0, run.stderr + run.stdout);
  const state = await cluster.state();
  for (const name of NODE_NAMES) t.equal(cluster.starts()[name], before[name] + 1, `${name} restarted once`);
  t.equal(state.lowestLive, 2, 'never two nodes down');
  t.equal(state.settings.persistent[ALLOCATION], undefined, 'allocation not left at primaries');
  t.same(state.shutdowns, [], 'no shutdown record left');
  t.equal(state.health.status, 'green');
  t.same(state.unlisted, [], 'only the listed ES APIs');
  const stops = [...run.stdout.matchAll(/(es-\d): stop \(/g)].map((m) => m[1]);
  t.equal(stops.at(-1), master, 'the elected master stopped last');
  t.match(
    run.stdout,
    /\[ *\d+\.\ds\] es-0: allocation: primaries \(\d+\.\ds\)/,
    'one line per step with the elapsed time',
  );
  t.match(
    run.stdout,
    /done: rolling restart of 3 node\(s\) in \d+\.\ds; es-\d \d+\.\ds down, es-\d \d+\.\ds down, es-\d \d+\.\ds down/,
  );
});

t.test('full: all down together, all back, allocation back, green', async (t) => {
  await cluster.reset();
  const before = cluster.starts();
  const run = await restart([...cluster.baseArgs, '--mode', 'full', '--json']);
  t.equal(run.code, 0, run.stderr + run.stdout);
  const state = await cluster.state();
  for (const name of NODE_NAMES) t.equal(cluster.starts()[name], before[name] + 1, `${name} restarted once`);
  t.equal(state.lowestLive, 0, 'every node was down at once');
  t.equal(state.settings.persistent[ALLOCATION], undefined);
  t.same(state.shutdowns, []);
  t.equal(state.health.status, 'green');
  const events = run.events();
  const steps = events.filter((e) => e.event === 'step').map((e) => `${e.node ?? 'cluster'} ${e.step}`);
  const lastStop = Math.max(...NODE_NAMES.map((n) => steps.indexOf(`${n} stop`)));
  const firstStart = Math.min(...NODE_NAMES.map((n) => steps.indexOf(`${n} start`)));
  t.ok(
    lastStop < steps.indexOf('cluster all stopped') && steps.indexOf('cluster all stopped') < firstStart,
    'all stopped before any start',
  );
  t.match(events.at(-1), { event: 'summary', mode: 'full', nodes: 3 });
});

t.test('a yellow cluster: rolling refuses with 75 and changes nothing', async (t) => {
  // es-1 stopped through its manager leaves the cluster: the other copies of its shards are primaries without replicas.
  t.equal((await cluster.managerRequest('es-1', 'POST', '/es/stop')).status, 200);
  await waitFor(async () => (await cluster.state()).health.status === 'yellow', 'yellow');
  await cluster.reset();
  const before = cluster.starts();
  const run = await restart([...cluster.baseArgs]);
  t.equal(run.code, 75, run.stdout + run.stderr);
  t.match(run.stderr, /the cluster is yellow; a rolling restart needs green to begin \(nothing changed\)/);
  t.same(cluster.starts(), before);
  t.same(
    (await cluster.state()).calls.filter((c: string) => !c.startsWith('GET ')),
    [],
    'only reads',
  );

  const full = await restart([...cluster.baseArgs, '--mode', 'full', '--dry-run']);
  t.equal(full.code, 0, 'full accepts yellow (not red)');
  t.equal((await cluster.managerRequest('es-1', 'POST', '/es/start')).status, 202);
  await cluster.waitGreen();
});

t.test('--nodes: only those nodes restart; a name the cluster lacks is 64 before anything changes', async (t) => {
  await cluster.reset();
  const before = cluster.starts();
  const unknown = await restart([...cluster.baseArgs, '--nodes', 'es-0,es-9']);
  t.equal(unknown.code, 64, unknown.stderr);
  t.match(unknown.stderr, /--nodes: the cluster has no node named es-9 \(nodes: es-0, es-1, es-2\)/);
  t.same(cluster.starts(), before);

  const run = await restart([...cluster.baseArgs, '--nodes', 'es-0', '--wait-for', 'yellow']);
  t.equal(run.code, 0, run.stderr + run.stdout);
  t.same(cluster.starts(), { ...before, 'es-0': before['es-0'] + 1 }, 'es-0 only');
  t.equal((await cluster.state()).settings.persistent[ALLOCATION], undefined);
  await cluster.waitGreen();
});

t.test('--config with managers that report no configuration: 69 before any node is stopped', async (t) => {
  // These managers run without --config-path; the wait for a configuration itself needs managers that have it.
  await cluster.reset();
  const before = cluster.starts();
  const run = await restart([...cluster.baseArgs, '--config', 'a'.repeat(64)]);
  t.equal(run.code, 69, run.stderr + run.stdout);
  t.match(
    run.stderr,
    /es-0 \(https:\/\/127\.0\.0\.2:\d+\): reports no configuration checksum for --config \(start it with --config-path\)/,
  );
  t.same(cluster.starts(), before);
  t.same(
    (await cluster.state()).calls.filter((c: string) => !c.startsWith('GET ')),
    [],
    'only reads',
  );
});
