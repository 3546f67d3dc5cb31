// ES before 7.15 has no node shutdown records of type restart (before 7.13 no
// shutdown API at all): the restart goes without them, and a rerun then needs
// the --since its plan printed.

import t from 'tap';
import { NODE_NAMES, restart, startFakeCluster } from '../helpers/es-cluster.ts';

const cluster = await startFakeCluster(3, { FAKE_CLUSTER_VERSION: '7.10.2' });
t.teardown(() => cluster.close());

t.test('ES 7.10: rolling without the shutdown API, allocation back, green', async (t) => {
  await cluster.reset();
  const before = cluster.starts();
  const run = await restart([...cluster.baseArgs]);
  t.equal(run.code, 0, run.stdout + run.stderr);
  t.match(run.stdout, /rolling restart of 3 node\(s\), ES 7\.10\.2/);
  t.notMatch(run.stdout, /shutdown record/);
  const state = await cluster.state();
  t.same(state.unlisted, [], 'no call to an API this ES does not have');
  for (const name of NODE_NAMES) t.equal(cluster.starts()[name], before[name] + 1, `${name} restarted once`);
  t.equal(state.settings.persistent['cluster.routing.allocation.enable'], undefined);
  t.equal(state.lowestLive, 2);
  t.equal(state.health.status, 'green');
});
