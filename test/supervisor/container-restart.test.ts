// The original system's container tests, run by stopping and restarting the
// manager over the same state file (what a container restart on an emptyDir does).

import fs from 'node:fs';
import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { isAlive, stopManager, tempDir, within } from '../helpers/manager.ts';

async function comeBack(dir: string) {
  const run = await startOnFakeEs({ dir });
  t.teardown(() => stopManager(run.manager));
  await run.manager.waitForLog((r) => r['event.action'] === 'api-listening', 'the API');
  return run;
}

t.test('API stop -> the container comes back stopped and waits for start', async (t) => {
  const dir = tempDir();
  const run = await startOnFakeEs({ dir });
  await run.pids();
  await run.manager.request('POST', '/es/stop');
  await stopManager(run.manager);
  fs.rmSync(run.pidsFile);
  const again = await comeBack(dir);
  const status = await again.manager.status();
  t.match(status, { state: 'stopped', desired: 'stopped', pid: null, lastExit: { code: 143 } });
  t.notOk(fs.existsSync(again.pidsFile), 'the process was not started');
  t.equal((await again.manager.request('POST', '/es/start')).status, 202, 'until asked');
  await again.pids();
});

t.test('API kill -> the container comes back killed', async (t) => {
  const dir = tempDir();
  const run = await startOnFakeEs({ dir });
  await run.pids();
  await run.manager.request('POST', '/es/kill');
  await stopManager(run.manager);
  const again = await comeBack(dir);
  t.match(await again.manager.status(), { state: 'killed', desired: 'stopped', lastExit: { signal: 'SIGKILL' } });
});

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  t.test(`the process killed with ${signal} -> the manager exits, the container comes back started`, async (t) => {
    const dir = tempDir();
    const run = await startOnFakeEs({ dir });
    const pids = await run.pids();
    process.kill(pids[0], signal);
    const exit = await within(run.manager.exited, 'the manager to exit');
    t.equal(exit.code, signal === 'SIGTERM' ? 143 : 137, 'the manager exits with the process status');
    const again = await comeBack(dir);
    const newPids = await again.pids(pids);
    t.match(await again.manager.status(), { state: 'started', desired: 'started', pid: newPids[0] });
    t.ok(isAlive(newPids[0]));
  });
}

t.test('the manager SIGTERMed -> the container comes back started', async (t) => {
  const dir = tempDir();
  const run = await startOnFakeEs({ dir });
  const pids = await run.pids();
  run.manager.child.kill('SIGTERM');
  t.equal((await within(run.manager.exited, 'the manager to exit')).code, 143);
  const again = await comeBack(dir);
  const newPids = await again.pids(pids);
  t.match(await again.manager.status(), { state: 'started', desired: 'started', pid: newPids[0], restarts: 1 });
});

t.test('the manager SIGKILLed (the kubelet after the grace period) -> comes back started', async (t) => {
  const dir = tempDir();
  const run = await startOnFakeEs({ dir });
  const pids = await run.pids();
  run.manager.child.kill('SIGKILL');
  await within(run.manager.exited, 'the manager to exit');
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL'); // the container's death takes these too
  const again = await comeBack(dir);
  const newPids = await again.pids(pids);
  t.match(await again.manager.status(), { state: 'started', pid: newPids[0] });
  t.match(
    again.manager.logs.find((r) => r['event.action'] === 'state-file'),
    { 'log.level': 'warn', message: /^state file says es was started: the previous manager ended without stopping it/ },
    'a warning',
  );
});

t.test(
  'a crash before a container restart (--on-exit exit) stays visible: the next manager is degraded, and its boot is a warning',
  async (t) => {
    const dir = tempDir();
    const run = await startOnFakeEs({ dir });
    const pids = await run.pids();
    process.kill(pids[0], 'SIGKILL');
    t.equal((await run.manager.exited).code, 137);
    t.match(
      JSON.parse(fs.readFileSync(run.stateFile, 'utf8')),
      { state: 'exited', lastExit: { signal: 'SIGKILL' } },
      'the crash reached the disk before the manager exited',
    );
    const again = await comeBack(dir);
    await again.pids(pids);
    const health = await again.manager.request('GET', '/health');
    t.match(health.json, {
      status: 'degraded',
      process: { state: 'started' },
      reasons: [/^es exited unexpectedly \d+ s ago \(1 restarts so far\)$/],
    });
    t.match(
      again.manager.logs.find((r) => r['event.action'] === 'state-file'),
      {
        'log.level': 'warn',
        message: /^state file says es exited unexpectedly \(signal SIGKILL\) \d+ s ago, before this container restart/,
      },
    );
  },
);

t.test('after a stop, the next container boots at info and healthy', async (t) => {
  const dir = tempDir();
  const run = await startOnFakeEs({ dir });
  const pids = await run.pids();
  await stopManager(run.manager);
  const again = await comeBack(dir);
  await again.pids(pids);
  t.match((await again.manager.request('GET', '/health')).json, { status: 'ok', reasons: [] });
  t.match(
    again.manager.logs.find((r) => r['event.action'] === 'state-file'),
    { 'log.level': 'info' },
  );
});
