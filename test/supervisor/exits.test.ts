// Exit code and signal are reported apart, and what the manager does when the
// process dies without being asked (--on-exit).

import path from 'node:path';
import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { startManager, stopManager, tempDir, waitFor, within } from '../helpers/manager.ts';

for (const code of [0, 3, 78, 143]) {
  t.test(`exit ${code} is an exit code, not a signal`, async (t) => {
    const dir = tempDir();
    const manager = await startManager({
      args: [
        '--cmd',
        '/bin/sh',
        '--on-exit',
        'restart',
        '--state-file',
        path.join(dir, 's.json'),
        '--',
        '-c',
        `sleep 0.3; exit ${code}`,
      ],
    });
    t.teardown(() => stopManager(manager));
    const status = await waitFor(async () => {
      const s = await manager.status();
      return s.lastExit ? s : undefined;
    }, 'the first exit');
    t.same({ code: status.lastExit.code, signal: status.lastExit.signal }, { code, signal: null });
  });
}

t.test('death by SIGKILL is a signal with no code; --on-exit exit makes the manager exit 137', async (t) => {
  const run = await startOnFakeEs();
  const [launcher] = await run.pids();
  process.kill(launcher, 'SIGKILL');
  const exit = await within(run.manager.exited, 'the manager to exit');
  t.equal(exit.code, 137);
  const logged = run.manager.logs.find((r) => r['event.action'] === 'process-exit');
  t.match(logged, { 'process.exit_code': null, 'process.signal': 'SIGKILL', 'event.reason': 'unexpected' });
});

t.test('--on-exit restart: a crash is followed by a restart after the back-off, with a new pid', async (t) => {
  const run = await startOnFakeEs({ args: ['--on-exit', 'restart'] });
  t.teardown(() => stopManager(run.manager));
  const first = await run.pids();
  process.kill(first[0], 'SIGTERM');
  const exited = await waitFor(
    async () => ((await run.manager.status()).state === 'exited' ? run.manager.status() : undefined),
    'the exited state',
  );
  t.match(exited, { lastExit: { code: 143, signal: null }, desired: 'started' });
  const second = await run.pids(first);
  t.not(second[0], first[0]);
  const status = await run.manager.status();
  t.match(status, { state: 'started', pid: second[0], restarts: 1 });
  t.ok(
    run.manager.logs.some((r) => r['event.action'] === 'restart-scheduled' && /in 1000 ms/.test(r.message)),
    'the first back-off is 1 s',
  );
});

t.test('an API stop during the back-off cancels the restart', async (t) => {
  const dir = tempDir();
  const manager = await startManager({
    args: ['--cmd', '/bin/sh', '--on-exit', 'restart', '--state-file', path.join(dir, 's.json'), '--', '-c', 'exit 1'],
  });
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['event.action'] === 'restart-scheduled', 'a restart to be scheduled');
  t.equal((await manager.request('POST', '/es/stop')).status, 200);
  await new Promise((resolve) => setTimeout(resolve, 1500)); // longer than the 1 s back-off: nothing may start
  t.equal((await manager.status()).state, 'exited');
  t.equal((await manager.status()).desired, 'stopped');
});
