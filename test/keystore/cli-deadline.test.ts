// A CLI that never answers, or leaves a child holding our pipes, must not hang
// the updater or keep Elasticsearch from starting (issue 12 item 6). The
// deadline is shortened through KEYSTORE_CLI_DEADLINE_TEST_MS, a test knob
// documented in src/keystore/keystore-cli.ts; the code path is the real one.

import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { isAlive, startManager, stopManager, waitFor, type RunningManager } from '../helpers/manager.ts';
import {
  KEYSTORE_CLI,
  keystoreLayout,
  settingsOf,
  statusWhere,
  writeSecret,
  type KeystoreLayout,
} from '../helpers/keystore.ts';

function readPids(file: string): number[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
}

/**
 * A manager whose CLI is `script`, a wrapper of the test's own that appends the pids it leaves behind to
 * `pids`; whichever of them still runs at the end is killed. The Secret holds one setting, a = A1.
 */
async function startWithCli(
  t: Test,
  layout: KeystoreLayout,
  pids: string,
  script: string,
  env: Record<string, string> = {},
): Promise<RunningManager> {
  const wrapper = path.join(layout.root, 'elasticsearch-keystore');
  fs.writeFileSync(wrapper, script, { mode: 0o755 });
  writeSecret(layout.sourceDir, { a: 'A1' });
  const manager = await startManager({ args: layout.args, env: { ...layout.env, KEYSTORE_BINARY: wrapper, ...env } });
  t.teardown(async () => {
    await stopManager(manager);
    for (const pid of readPids(pids)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  return manager;
}

t.test(
  'a CLI stuck in a child holding its pipes: killed with its group at the deadline, failed, ES starts',
  async (t) => {
    const layout = keystoreLayout();
    const pids = path.join(layout.root, 'cli-pids');
    // The shell waits on a child that holds stdout and stderr: killing the shell alone would leave the pipes open.
    const stuck = `#!/bin/sh\necho $$ >> '${pids}'\nsleep 100000 &\necho $! >> '${pids}'\nwait\n`;
    const manager = await startWithCli(t, layout, pids, stuck, { KEYSTORE_CLI_DEADLINE_TEST_MS: '2000' });
    const status = await statusWhere(manager, (s) => s.state === 'failed', 'the sync to fail at the deadline', 30_000);
    t.match(status.reason, /^elasticsearch-keystore add-file gave no answer within 2 s; its process group was killed/);
    await waitFor(
      async () => (await manager.status()).state === 'started',
      'the process to start after the failed first sync',
    );
    const [shell, sleeper] = readPids(pids);
    t.ok(shell && sleeper, 'the CLI and its child ran');
    await waitFor(() => !isAlive(shell) && !isAlive(sleeper), 'the CLI and its child to be gone', 5_000);
    t.ok(
      manager.logs.some((r) => r['event.action'] === 'signal' && /sent SIGKILL to group/.test(r.message)),
      'the group kill is logged',
    );
    // The retry is stuck in flight again: the status stays failed and says since when.
    const retrying = await statusWhere(manager, (s) => s.syncingSince !== null, 'the retry in flight');
    t.equal(retrying.state, 'failed', 'a retry in flight does not hide the failure');
    t.match(retrying.reason, /; retrying now \(since \d{4}-/);
    t.equal((await manager.request('GET', '/health')).json.keystore.state, 'failed', '/health shows the failure');
  },
);

t.test(
  'a CLI that exits but leaves a child holding its pipes: the call ends with the CLI, the stray is killed',
  async (t) => {
    const layout = keystoreLayout();
    const pids = path.join(layout.root, 'stray-pids');
    // No deadline knob: this must end long before the real deadline (120 s).
    const manager = await startWithCli(
      t,
      layout,
      pids,
      `#!/bin/sh\nsleep 100000 &\necho $! >> '${pids}'\nexec '${KEYSTORE_CLI}' "$@"\n`,
    );
    await statusWhere(manager, (s) => s.state === 'synced' && s.settings.length === 1, 'the first sync to end', 30_000);
    t.same(settingsOf(layout.keystorePath), { a: 'A1' });
    const [stray] = readPids(pids);
    await waitFor(() => !isAlive(stray), 'the stray child to be killed with the group', 5_000);
    await waitFor(async () => (await manager.status()).state === 'started', 'the process to start');
  },
);

t.test('a stray that left the group (setsid) and holds the pipes: the call still ends with the CLI', async (t) => {
  const layout = keystoreLayout();
  const pids = path.join(layout.root, 'escaped-pids');
  // setsid puts the sleep in a session and group of its own: no group kill reaches it, only our pipes tie it to the call.
  const escaping = `#!/bin/sh\nsetsid sh -c 'echo $$ >> "${pids}"; exec sleep 100000' &\nwhile [ ! -s '${pids}' ]; do sleep 0.05; done\nexec '${KEYSTORE_CLI}' "$@"\n`;
  const manager = await startWithCli(t, layout, pids, escaping);
  await statusWhere(
    manager,
    (s) => s.state === 'synced' && s.settings.length === 1,
    'the first sync to end although the pipes stay open',
    30_000,
  );
  t.same(settingsOf(layout.keystorePath), { a: 'A1' });
  const [escaped] = readPids(pids);
  t.ok(
    isAlive(escaped),
    'the escaped child is still there (nothing of ours can reach it): the call ended without its pipes closing',
  );
});
