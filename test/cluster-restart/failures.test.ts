// cluster-restart when things go wrong: a node that never comes back (exit 1,
// what is left, the command that resumes; then that command), a manager that
// cannot be reached (69 before anything changed, 1 mid-run), and the
// coordinator killed mid-run and run again.

import net from 'node:net';
import fs from 'node:fs';
import t, { type Test } from 'tap';
import {
  coordinator,
  coordinatorAsPid1,
  NODE_IPS,
  NODE_NAMES,
  restart,
  startFakeCluster,
  type FakeCluster,
} from '../helpers/es-cluster.ts';
import { freePort, waitFor } from '../helpers/manager.ts';
import { childrenOf } from '../helpers/procfs.ts';

const cluster = await startFakeCluster();
t.teardown(() => cluster.close());

const ALLOCATION = 'cluster.routing.allocation.enable';

/** The order the run will take (the plan's), read from a dry run. */
async function planOrder(): Promise<string[]> {
  const run = await restart([...cluster.baseArgs, '--dry-run', '--json']);
  return run
    .events()
    .find((e) => e.event === 'plan')
    .nodes.map((n: { name: string }) => n.name);
}

/** The resume command the failure printed, as argv after `process-manager cluster-restart`. */
function resumeArgs(output: string): string[] {
  const line = /resume with: process-manager cluster-restart (.*)$/m.exec(output);
  if (!line) throw new Error(`no resume command in:\n${output}`);
  return line[1].split(' ');
}

async function assertRestartedOnceAndClean(
  t: Test,
  before: Record<string, number>,
  cluster: FakeCluster,
): Promise<void> {
  const state = await cluster.state();
  for (const name of NODE_NAMES)
    t.equal(cluster.starts()[name], before[name] + 1, `${name} started once more, not twice`);
  t.equal(state.settings.persistent[ALLOCATION], undefined, 'allocation back to all');
  t.same(state.shutdowns, [], 'no shutdown record left');
  t.equal(state.health.status, 'green');
}

t.test(
  'a node that never comes back: exit 1 naming node and step, what is left, the resume; the resume finishes',
  async (t) => {
    const order = await planOrder();
    const stuck = order[1];
    fs.writeFileSync(cluster.holdFile(stuck), '');
    const before = cluster.starts();
    const run = await restart([...cluster.baseArgs, '--timeout', '8s']);
    t.equal(run.code, 1, run.stdout + run.stderr);
    t.match(
      run.stderr,
      new RegExp(
        `cluster-restart failed at node ${stuck}, step 'rejoined': ${stuck} to rejoin the cluster: not within 8 s`,
      ),
    );
    t.match(
      run.stderr,
      new RegExp(`nodes: ${order[0]} restarted; ${stuck} restarted, not in the cluster; ${order[2]} not restarted yet`),
      'what was done',
    );
    t.match(
      run.stderr,
      /left: allocation primaries \(replicas are not allocated until it is back to all\); shutdown records: .*/,
    );
    t.match(run.stderr, new RegExp(`shutdown records: ${stuck}\\b`));
    t.equal(cluster.starts()[order[2]], before[order[2]], 'the node after it was not touched');
    t.equal((await cluster.state()).settings.persistent[ALLOCATION], 'primaries', 'the state it said it left');

    fs.rmSync(cluster.holdFile(stuck));
    await waitFor(async () => (await cluster.state()).nodes[stuck].live, `${stuck} to join once released`);
    const resumed = await restart(resumeArgs(run.stderr));
    t.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    t.match(resumed.stdout, /resuming --since /);
    t.match(resumed.stdout, new RegExp(`${order[0]}: already restarted`));
    t.match(
      resumed.stdout,
      new RegExp(`${stuck}: already restarted`),
      'its process did start after --since: not again',
    );
    await assertRestartedOnceAndClean(t, before, cluster);
  },
);

t.test('an unreachable manager before the start: 69, nothing changed', async (t) => {
  await cluster.reset();
  const before = cluster.starts();
  const port = await freePort();
  const run = await restart([...cluster.baseArgs, '--manager', `es-0=https://127.0.0.1:${port}`]);
  t.equal(run.code, 69, run.stdout + run.stderr);
  t.match(
    run.stderr,
    new RegExp(
      `manager\\(s\\) not usable, nothing changed: es-0 \\(https://127.0.0.1:${port}\\): .*connection refused`,
    ),
  );
  t.same(cluster.starts(), before);
  t.same(
    (await cluster.state()).calls.filter((c: string) => !c.startsWith('GET ')),
    [],
    'only reads',
  );
});

t.test('a manager unreachable mid-run: exit 1 at its node; the printed command resumes', async (t) => {
  const order = await planOrder();
  const last = order[2];
  // The last node's manager through a proxy the test cuts once the run is under way.
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  const listen = (): Promise<net.Server> =>
    new Promise((resolve) => {
      const proxy = net.createServer((socket) => {
        const upstream = net.connect(cluster.managerPort, NODE_IPS[NODE_NAMES.indexOf(last)]);
        for (const s of [socket, upstream]) {
          sockets.add(s);
          s.on('error', () => {}).on('close', () => sockets.delete(s));
        }
        socket.pipe(upstream).pipe(socket);
      });
      proxy.listen(port, '127.0.0.1', () => resolve(proxy));
    });
  let proxy = await listen();
  const before = cluster.starts();
  const run = coordinator([
    ...cluster.baseArgs,
    '--json',
    '--timeout',
    '15s',
    '--manager',
    `${last}=https://127.0.0.1:${port}`,
  ]);
  await waitFor(
    () => run.events().some((e) => e.node === order[0] && e.step === 'rejoined'),
    `${order[0]} to rejoin`,
    60_000,
  );
  await new Promise((resolve) => {
    proxy.close(resolve);
    sockets.forEach((s) => s.destroy());
  });
  const code = await run.done;
  t.equal(code, 1, run.stdout + run.stderr);
  const failed = run.events().find((e) => e.event === 'failed');
  t.match(failed, { node: last, step: 'status', reason: /connection refused/, allocation: 'all (not set)' });
  t.equal(cluster.starts()[last], before[last], 'it was not touched');

  proxy = await listen();
  t.teardown(() => {
    proxy.close();
    sockets.forEach((s) => s.destroy());
  });
  const resumed = await restart(failed.resume.split(' ').slice(2));
  t.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
  await assertRestartedOnceAndClean(t, before, cluster);
});

t.test(
  'the coordinator killed (SIGKILL) mid-run, then the same command again: no node twice, allocation back',
  async (t) => {
    const order = await planOrder();
    const before = cluster.starts();
    const args = [...cluster.baseArgs, '--json'];
    const first = coordinator(args);
    await waitFor(
      () => first.events().some((e) => e.node === order[1] && e.step === 'stop' && e.status === 'done'),
      `${order[1]} stopped`,
      60_000,
    );
    first.child.kill('SIGKILL');
    await first.done;
    t.equal(
      (await cluster.state()).settings.persistent[ALLOCATION],
      'primaries',
      'killed with allocation at primaries',
    );

    const again = await restart(args);
    t.equal(again.code, 0, again.stdout + again.stderr);
    const plan = again.events().find((e) => e.event === 'plan');
    t.match(plan.resumes, /^the run of .* \(its node shutdown records\)$/, 'it found the run it resumes');
    // The killed run may have sent the start of the node it had just stopped: that one counts as restarted too.
    const skipped = again
      .events()
      .filter((e) => e.step === 'skip')
      .map((e) => e.node);
    t.ok(
      skipped.includes(order[0]) && !skipped.includes(order[2]),
      `skipped the node(s) restarted before the kill: ${skipped}`,
    );
    await assertRestartedOnceAndClean(t, before, cluster);
  },
);

t.test(
  'a run interrupted between a node stop and its start: the same command starts that node first, then the rest',
  async (t) => {
    const order = await planOrder();
    const down = order[1];
    const before = cluster.starts();
    // What a coordinator killed at that moment leaves: allocation at primaries, the node's record, the node stopped.
    const id = (await cluster.state()).nodes[down].id;
    const since = new Date().toISOString(); // after every earlier test's restarts
    const manager = `https://${NODE_IPS[NODE_NAMES.indexOf(down)]}:${cluster.managerPort}`;
    await fetch(`${cluster.url}/_cluster/settings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ persistent: { [ALLOCATION]: 'primaries' } }),
    });
    const reason = `process-manager cluster-restart rolling run ${since}; node ${down} manager ${manager}`;
    const put = await fetch(`${cluster.url}/_nodes/${id}/shutdown`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'restart', reason }),
    });
    t.equal(put.status, 200);
    t.equal((await cluster.managerRequest(down, 'POST', '/es/stop')).status, 200);
    await waitFor(async () => !(await cluster.state()).nodes[down].live, `${down} to leave`);
    await cluster.reset();

    const run = await restart([...cluster.baseArgs]);
    t.equal(run.code, 0, run.stdout + run.stderr);
    t.match(run.stdout, new RegExp(`resuming the run of ${since}`));
    const stops = [...run.stdout.matchAll(/(es-\d): stop \(/g)].map((m) => m[1]);
    t.equal(stops[0], down, 'the node that was down first, found through its record though ES no longer lists it');
    t.equal((await cluster.state()).lowestLive, 2, 'never two down');
    for (const name of NODE_NAMES) t.equal(cluster.starts()[name], before[name] + 1, `${name} started once`);
    const state = await cluster.state();
    t.equal(state.settings.persistent[ALLOCATION], undefined);
    t.same(state.shutdowns, []);
  },
);

t.test(
  'a full restart interrupted with every node down: no ES to ask, the printed command (it names every manager) resumes',
  async (t) => {
    const dry = await restart([...cluster.baseArgs, '--mode', 'full', '--dry-run', '--json']);
    const plan = dry.events().find((e) => e.event === 'plan');
    for (const [i, name] of NODE_NAMES.entries())
      t.match(plan.resume, `--manager ${name}=https://${NODE_IPS[i]}:${cluster.managerPort}`);
    const before = cluster.starts();
    // What a full run killed after "all stopped" leaves: allocation at primaries, every record, every node down.
    const state = await cluster.state();
    const put = (route: string, body: unknown) =>
      fetch(`${cluster.url}${route}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    await put('/_cluster/settings', { persistent: { [ALLOCATION]: 'primaries' } });
    for (const [i, name] of NODE_NAMES.entries()) {
      const reason = `process-manager cluster-restart full run ${plan.since}; node ${name} manager https://${NODE_IPS[i]}:${cluster.managerPort}`;
      t.equal((await put(`/_nodes/${state.nodes[name].id}/shutdown`, { type: 'restart', reason })).status, 200);
    }
    for (const name of NODE_NAMES.slice(0, 2))
      t.equal((await cluster.managerRequest(name, 'POST', '/es/stop')).status, 200);
    t.equal((await fetch(`${cluster.url}/_cluster/health`)).status, 503, 'no master: master_not_discovered_exception');

    const args = plan.resume
      .split(' ')
      .slice(2)
      .filter((word: string) => word !== '--json');
    const refused = await restart(args);
    t.equal(refused.code, 69, 'ES down while a node still runs: not the state an interrupted full restart leaves');
    t.match(
      refused.stderr,
      /es-2 \(https:\/\/127\.0\.0\.4:\d+\): its process runs while Elasticsearch at http:\/\/127\.0\.0\.1:\d+ does not answer/,
    );
    t.same(cluster.starts(), before, 'nothing started');

    t.equal((await cluster.managerRequest('es-2', 'POST', '/es/stop')).status, 200);
    const run = await restart(args);
    t.equal(run.code, 0, run.stdout + run.stderr);
    t.match(run.stdout, /resuming --since .*, with Elasticsearch down/);
    for (const name of NODE_NAMES) t.equal(cluster.starts()[name], before[name] + 1, `${name} started once`);
    const after = await cluster.state();
    t.equal(after.settings.persistent[ALLOCATION], undefined, 'allocation back');
    t.same(after.shutdowns, [], 'the records deleted once ES was back');
    t.equal(after.health.status, 'green');
  },
);

t.test(
  'SIGTERM to the coordinator as PID 1 (a Job container): it ends at once, saying how to resume; that resumes',
  async (t) => {
    const before = cluster.starts();
    const run = coordinatorAsPid1([...cluster.baseArgs, '--json']);
    await waitFor(
      () => run.events().some((e) => e.event === 'step' && e.step === 'stop'),
      'a first node stopped',
      60_000,
    );
    const pid1 = await waitFor(() => childrenOf(run.child.pid!)[0], 'PID 1 of the namespace');
    process.kill(pid1, 'SIGTERM');
    const code = await run.done;
    t.equal(code, 143, 'ended by its own handler (PID 1 ignores a signal it has none for)');
    const interrupted = run.events().find((e) => e.event === 'interrupted');
    t.match(interrupted, { signal: 'SIGTERM', resume: /--since / });
    const resumed = await restart(interrupted.resume.split(' ').slice(2));
    t.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    await assertRestartedOnceAndClean(t, before, cluster);
  },
);
