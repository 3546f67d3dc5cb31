// Under a small RLIMIT_NOFILE (prlimit on the manager, inherited by everything
// it starts) the manager never dies: a CLI spawn that gets no pipes (EMFILE)
// is a failure to retry, not a crash taking Elasticsearch with it; add-file
// calls are sized to the descriptors actually free, so a big Secret still
// applies; and /health keeps answering.

import t from 'tap';
import { startManager, stopManager, waitFor, isAlive } from '../helpers/manager.ts';
import { keystoreLayout, settingsOf, statusWhere, writeSecret } from '../helpers/keystore.ts';

function payloadOf(count: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`s.key${i}`, `value-${i}`]));
}

t.test(
  'RLIMIT_NOFILE 32: every CLI spawn fails, the manager and Elasticsearch keep running, /health answers',
  async (t) => {
    const layout = keystoreLayout();
    writeSecret(layout.sourceDir, payloadOf(2));
    const manager = await startManager({
      args: layout.args,
      env: layout.env,
      wrapper: ['prlimit', '--nofile=32', '--'],
    });
    t.teardown(() => stopManager(manager));
    const failed = await statusWhere(
      manager,
      (s) => s.state === 'failed' && s.consecutiveFailures >= 3,
      'three failed passes',
      60_000,
    );
    t.match(failed.reason, /EMFILE/, `the reason says why: ${failed.reason}`);
    t.match(failed.reason, /RLIMIT_NOFILE 32/, 'and names the limit');
    const es = await waitFor(async () => {
      const status = await manager.status();
      return status.state === 'started' ? status : undefined;
    }, 'the process to start anyway');
    t.ok(isAlive(es.pid), 'Elasticsearch runs');
    // Node itself holds some 25 descriptors: at 32 there is room for a probe at a time, as a kubelet sends them.
    const answers: number[] = [];
    for (let i = 0; i < 20; i++) answers.push((await manager.request('GET', '/health')).status);
    t.same(new Set(answers), new Set([200]), '/health answers every probe');
    await statusWhere(manager, (s) => s.consecutiveFailures >= 5, 'more retries, still alive', 60_000);
    t.equal(manager.child.exitCode, null, 'the manager is still running');
    t.ok(isAlive(es.pid), 'and so is Elasticsearch');
  },
);

t.test('RLIMIT_NOFILE 64: a 300-file Secret applies, in calls that fit', async (t) => {
  const layout = keystoreLayout();
  const payload = payloadOf(300);
  writeSecret(layout.sourceDir, payload);
  const manager = await startManager({ args: layout.args, env: layout.env, wrapper: ['prlimit', '--nofile=64', '--'] });
  t.teardown(() => stopManager(manager));
  // Probes three at a time all along: the calls leave room for them.
  let isProbing = true;
  const probeAnswers: (number | string)[] = [];
  const prober = (async () => {
    while (isProbing) {
      const round = await Promise.all(
        [1, 2, 3].map(() =>
          manager.request('GET', '/health').then(
            (r) => r.status,
            (error: Error) => error.message,
          ),
        ),
      );
      probeAnswers.push(...round);
    }
  })();
  const status = await statusWhere(
    manager,
    (s) => s.state === 'synced' && s.settings.length === 300,
    'all 300 settings applied',
    120_000,
  );
  isProbing = false;
  await prober;
  t.ok(probeAnswers.length >= 3, `probes ran during the sync (${probeAnswers.length})`);
  t.same(
    probeAnswers.filter((answer) => answer !== 200),
    [],
    'every probe was answered',
  );
  t.equal(Object.keys(settingsOf(layout.keystorePath)!).length, 300, 'the keystore holds them');
  t.same(settingsOf(layout.keystorePath), payload);
  t.ok(status.counters.cliCalls > 1, `several smaller add-file calls (${status.counters.cliCalls})`);
  t.ok(
    manager.logs.some((r) => /per add-file call: RLIMIT_NOFILE 64/.test(r.message)),
    'the smaller calls are explained in the log',
  );
  const es = await waitFor(async () => {
    const s = await manager.status();
    return s.state === 'started' ? s : undefined;
  }, 'the process to run');
  t.ok(isAlive(es.pid));
  t.equal((await manager.request('GET', '/health')).status, 200);
});
