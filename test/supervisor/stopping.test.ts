// How stops end: SIGTERM per --stop-scope, SIGKILL to the group after
// --stop-timeout, and SIGKILL at once for whatever outlives the main process.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { isAlive, startManager, stopManager, tempDir, waitFor, within } from '../helpers/manager.ts';
import { processTable } from '../helpers/procfs.ts';

const isStopped = (pid: number) => processTable().find((p) => p.pid === pid)?.state === 'T';

t.test('a fake ES that ignores SIGTERM is SIGKILLed after --stop-timeout, and stop says so', async (t) => {
  const run = await startOnFakeEs({ args: ['--stop-timeout', '1s'], env: { FAKE_ES_ON_TERM: 'ignore' } });
  t.teardown(() => stopManager(run.manager));
  const pids = await run.pids();
  const began = Date.now();
  const stop = await run.manager.request('POST', '/es/stop');
  const took = Date.now() - began;
  t.equal(stop.status, 200);
  t.match(stop.json, { state: 'stopped', lastExit: { code: null, signal: 'SIGKILL' } });
  t.ok(took >= 1000, `waited the stop timeout first (${took} ms)`);
  t.notOk(pids.some(isAlive), 'the whole group is gone');
  t.ok(
    run.manager.logs.some(
      (r) => r['process.signal'] === 'SIGKILL' && /still running 1000 ms after SIGTERM/.test(r.message),
    ),
    'the escalation is logged',
  );
});

t.test('a child that survives its parent is gone when stop answers, without waiting for the timeout', async (t) => {
  const run = await startOnFakeEs({ args: ['--stop-timeout', '30s'], env: { FAKE_ES_RESILIENT_CHILD: '1' } });
  t.teardown(() => stopManager(run.manager));
  const [launcher, server, controller] = await run.pids();
  const began = Date.now();
  const stop = await run.manager.request('POST', '/es/stop');
  t.equal(stop.status, 200);
  t.match(
    stop.json,
    { state: 'stopped', lastExit: { code: 143, signal: null } },
    'the launcher itself exited on SIGTERM',
  );
  t.ok(Date.now() - began < 10_000, 'the leftovers were killed at once, not after the 30 s timeout');
  t.notOk([launcher, server, controller].some(isAlive), 'the resilient child is gone');
});

// A SIGSTOPped JVM holds a SIGTERM until it is resumed: the stop sends SIGCONT with it (issue 15, runit's `d`).
for (const [scope, frozen] of [
  ['group', 'the whole group'],
  ['process', 'the main process'],
] as const) {
  t.test(
    `--stop-scope ${scope}: a stop of a SIGSTOPped process (${frozen} frozen) runs its TERM handler, long before --stop-timeout`,
    async (t) => {
      const run = await startOnFakeEs({ args: ['--stop-timeout', '60s', '--stop-scope', scope] });
      t.teardown(() => stopManager(run.manager));
      const pids = await run.pids();
      const frozenPids = scope === 'group' ? pids : [pids[0]!];
      process.kill(scope === 'group' ? -pids[0]! : pids[0]!, 'SIGSTOP');
      await waitFor(() => frozenPids.every(isStopped), `${frozen} to be stopped`);
      const began = Date.now();
      const stop = await run.manager.request('POST', '/es/stop');
      const took = Date.now() - began;
      t.equal(stop.status, 200);
      t.match(
        stop.json,
        { state: 'stopped', lastExit: { code: 143, signal: null } },
        'its TERM handler ran: 143, not SIGKILL',
      );
      t.ok(took < 30_000, `answered long before the 60 s stop timeout (${took} ms)`);
      // The log line may reach us after the answer (the manager's stdout is a pipe): wait for it, not for time.
      const sigcont = await run.manager
        .waitForLog((r) => r['process.signal'] === 'SIGCONT', 'the SIGCONT log line')
        .catch(() => undefined);
      t.equal(sigcont?.['signal.target'], scope, `SIGCONT went to the ${scope}, as the SIGTERM did`);
      t.notOk(pids.some(isAlive), 'nothing of the group is left');
    },
  );
}

t.test(
  'a kill during a stop that waits for a process ignoring SIGTERM: both answer long before --stop-timeout',
  async (t) => {
    const run = await startOnFakeEs({ args: ['--stop-timeout', '60s'], env: { FAKE_ES_ON_TERM: 'ignore' } });
    t.teardown(() => stopManager(run.manager));
    const pids = await run.pids();
    const began = Date.now();
    const stop = run.manager.request('POST', '/es/stop');
    await run.manager.waitForLog(
      (r) => r['event.action'] === 'state-change' && r['process.state'] === 'stopping',
      'the stop to be under way',
    );
    const kill = await run.manager.request('POST', '/es/kill');
    const stopped = await stop;
    const took = Date.now() - began;
    t.equal(kill.status, 200);
    t.equal(stopped.status, 200);
    t.match(kill.json, { state: 'killed', desired: 'stopped', pid: null, lastExit: { code: null, signal: 'SIGKILL' } });
    t.match(stopped.json, { state: 'killed', desired: 'stopped' });
    t.ok(took < 30_000, `both answered long before the 60 s stop timeout (${took} ms)`);
    t.notOk(pids.some(isAlive), 'the group is gone');
    t.match(await run.manager.status(), { state: 'killed', desired: 'stopped' });
    t.ok(
      run.manager.logs.some(
        (r) => r['event.action'] === 'state-change' && r['event.reason'] === 'kill requested during a stop',
      ),
      'stopping -> killing is logged',
    );
  },
);

// elastic#38783: a group-wide SIGTERM reaches the ML controller before ES has shut it down.
for (const [scope, expected] of [
  ['process', ['parent-term']],
  ['group', ['child-term', 'parent-term']],
] as const) {
  t.test(
    `--stop-scope ${scope}: SIGTERM reaches ${scope === 'process' ? 'only the main process' : 'the whole group'}`,
    async (t) => {
      const dir = tempDir();
      const record = path.join(dir, 'record');
      // Each shell announces itself once its trap is set.
      const script = `sh -c 'trap "echo child-term >> ${record}; exit 0" TERM; echo > ${record}.child-ready; sleep 100000 & wait' & trap 'sleep 0.2; echo parent-term >> ${record}; exit 143' TERM; echo > ${record}.parent-ready; wait`;
      const manager = await startManager({
        args: [
          '--cmd',
          '/bin/sh',
          '--stop-scope',
          scope,
          '--state-file',
          path.join(dir, 'state.json'),
          '--',
          '-c',
          script,
        ],
      });
      t.teardown(() => stopManager(manager));
      await waitFor(
        () => fs.existsSync(`${record}.parent-ready`) && fs.existsSync(`${record}.child-ready`),
        'both shells to have set their traps',
      );
      const stop = await manager.request('POST', '/es/stop');
      t.equal(stop.json.state, 'stopped');
      t.same(fs.readFileSync(record, 'utf8').trim().split('\n').sort(), [...expected].sort());
    },
  );
}

t.test(
  'a stop that lasts longer than the HTTP call still completes, and SIGTERM to the manager waits for --shutdown-timeout',
  async (t) => {
    const run = await startOnFakeEs({ args: ['--shutdown-timeout', '1s'], env: { FAKE_ES_ON_TERM: 'ignore' } });
    const pids = await run.pids();
    const began = Date.now();
    run.manager.child.kill('SIGTERM');
    const exit = await within(run.manager.exited, 'the manager to exit');
    t.ok(Date.now() - began >= 1000, 'waited --shutdown-timeout before SIGKILL');
    t.equal(exit.code, 137, 'the manager exits with the status of the process: 128 + SIGKILL');
    t.notOk(pids.some(isAlive), 'nothing left behind');
  },
);

t.test('SIGTERM to a manager whose process is stopped: exit 0 at once', async (t) => {
  const run = await startOnFakeEs();
  await run.pids();
  await run.manager.request('POST', '/es/stop');
  run.manager.child.kill('SIGTERM');
  t.equal((await within(run.manager.exited, 'the manager to exit')).code, 0);
});

t.test('a second SIGTERM to the manager stops waiting: SIGKILL to the group at once', async (t) => {
  const run = await startOnFakeEs({ args: ['--shutdown-timeout', '60s'], env: { FAKE_ES_ON_TERM: 'ignore' } });
  const pids = await run.pids();
  const began = Date.now();
  run.manager.child.kill('SIGTERM');
  await run.manager.waitForLog(
    (r) => r['process.signal'] === 'SIGTERM' && r['event.action'] === 'signal',
    'the graceful SIGTERM to be sent',
  );
  run.manager.child.kill('SIGTERM');
  const exit = await within(run.manager.exited, 'the manager to exit');
  t.equal(exit.code, 137, 'the process was SIGKILLed');
  t.ok(Date.now() - began < 30_000, 'well before the 60 s --shutdown-timeout');
  t.ok(
    run.manager.logs.some((r) => r['process.signal'] === 'SIGKILL' && /second termination signal/.test(r.message)),
    'and the log says why',
  );
  t.notOk(pids.some(isAlive), 'nothing left behind');
});
