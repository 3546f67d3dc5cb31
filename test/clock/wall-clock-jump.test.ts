// Issue 23 item 4: the wall clock steps a day forward (an NTP correction, a
// host resumed from suspend) while something is under way. Durations are
// measured on the monotonic clock, so nothing looks stuck and the restart
// back-off does not take the jump for a long healthy run. libfaketime, preloaded
// into the built executable, moves the wall clock alone
// (FAKETIME_DONT_FAKE_MONOTONIC) when the test rewrites its file.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { certLayout, startCertManager } from '../helpers/cert-manager.ts';
import { keystoreLayout, statusWhere, writeSecret } from '../helpers/keystore.ts';
import { isAlive, startManager, stopManager, tempDir, waitFor, type RunningManager } from '../helpers/manager.ts';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const DAY_MS = 86_400_000;

/** The environment that preloads libfaketime, and the jump: the wall clock moves by a day, at once. */
function wallClock(): { env: Record<string, string>; jumpOneDay(): void } {
  const file = path.join(tempDir('pm-faketime-'), 'offset');
  fs.writeFileSync(file, '+0\n');
  return {
    env: {
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_TIMESTAMP_FILE: file,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    },
    jumpOneDay: () => fs.writeFileSync(file, '+1d\n'),
  };
}

/** Waits until the manager's own wall clock reads a day ahead (the Date header of its answers): the preload works. */
async function seesTheJump(manager: RunningManager): Promise<void> {
  await waitFor(async () => {
    const date = (await manager.request('GET', '/health')).headers.get('date');
    return date !== null && Date.parse(date) - Date.now() > DAY_MS - 3_600_000;
  }, "the manager's wall clock to be a day ahead");
}

t.test(
  'a keystore sync under way: a day\'s jump does not make it "run for 86400 s"',
  { skip: !fs.existsSync(LIBFAKETIME) && 'libfaketime is not installed' },
  async (t) => {
    const clock = wallClock();
    const layout = keystoreLayout();
    const pidFile = path.join(layout.root, 'cli-pid');
    // A CLI call that does not return for now: the first sync stays under way.
    const stuck = path.join(layout.root, 'elasticsearch-keystore');
    fs.writeFileSync(stuck, `#!/bin/sh\necho $$ >> '${pidFile}'\nexec sleep 100000\n`, { mode: 0o755 });
    writeSecret(layout.sourceDir, { a: 'A1' });
    const manager = await startManager({
      args: layout.args,
      env: { ...layout.env, ...clock.env, KEYSTORE_BINARY: stuck },
    });
    t.teardown(async () => {
      // Every call the manager made, should there have been more than one.
      const pids = fs.existsSync(pidFile)
        ? fs.readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).map(Number)
        : [];
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      await stopManager(manager);
    });
    await statusWhere(manager, (s) => s.state === 'syncing' && s.syncingSince !== null, 'a sync under way');

    clock.jumpOneDay();
    await seesTheJump(manager);
    const health = (await manager.request('GET', '/health')).json;
    t.equal(health.keystore.state, 'syncing', 'the sync is still under way');
    t.ok(health.keystore.syncingForMs < DAY_MS / 2, `it has run for ${health.keystore.syncingForMs} ms, not a day`);
    t.same(health.reasons, [], 'not reported as stuck');
  },
);

t.test(
  'a certificate awaited: a day\'s jump does not make it "awaited for 1440 min"',
  { skip: !fs.existsSync(LIBFAKETIME) && 'libfaketime is not installed' },
  async (t) => {
    const clock = wallClock();
    const layout = certLayout();
    const manager = await startCertManager(layout, { env: clock.env });
    t.teardown(() => stopManager(manager));
    await waitFor(
      async () => (await manager.request('GET', '/health')).json.certificates?.port,
      'the CSR to be served, the certificate awaited',
    );

    clock.jumpOneDay();
    await seesTheJump(manager);
    const health = (await manager.request('GET', '/health')).json;
    t.equal(health.certificates.state, 'waiting', 'still awaited');
    t.ok(health.certificates.forMs < DAY_MS / 2, `awaited for ${health.certificates.forMs} ms, not a day`);
    t.same(health.reasons, [], 'not reported as awaited too long');
  },
);

t.test(
  'a crash after a run during which the wall clock jumped a day: the back-off grows, it is not reset',
  { skip: !fs.existsSync(LIBFAKETIME) && 'libfaketime is not installed' },
  async (t) => {
    const clock = wallClock();
    const dir = tempDir();
    // The first run crashes at once; the second runs until the test says go, then crashes too.
    const script =
      'if [ ! -e "$0/first" ]; then touch "$0/first"; exit 1; fi; touch "$0/running"; while [ ! -e "$0/go" ]; do sleep 0.05; done; exit 1';
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
        script,
        dir,
      ],
      env: clock.env,
    });
    t.teardown(() => stopManager(manager));
    const scheduled = () => manager.logs.filter((r) => r['event.action'] === 'restart-scheduled');
    await manager.waitForLog(() => scheduled().length === 1, 'the first restart to be scheduled');
    t.match(scheduled()[0].message, /in 1000 ms$/);
    await waitFor(() => fs.existsSync(path.join(dir, 'running')), 'the second run');

    clock.jumpOneDay();
    await seesTheJump(manager);
    fs.writeFileSync(path.join(dir, 'go'), '');
    await manager.waitForLog(() => scheduled().length === 2, 'the second restart to be scheduled');
    t.match(scheduled()[1].message, /in 2000 ms$/, 'doubled: the run lasted seconds, whatever the wall clock says');
    t.ok(
      Date.parse(scheduled()[1]['@timestamp'] as string) - Date.parse(scheduled()[0]['@timestamp'] as string) >
        DAY_MS - 3_600_000,
      "the log's timestamps show the jump",
    );
    t.equal((await manager.request('POST', '/es/stop')).status, 200);
  },
);
