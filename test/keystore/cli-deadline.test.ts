// A CLI that never answers, or leaves a child holding our pipes, must not hang
// the updater or keep Elasticsearch from starting (issue 12 item 6). The
// deadline case runs in process, with a deadline of half a second handed to
// the real CLI runner; the others against the built executable.

import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { keystoreHealthReasons } from '../../src/keystore/health-reasons.ts';
import { inProcessStatusWhere, startInProcess, type InProcessUpdater } from '../helpers/keystore-in-process.ts';
import { isAlive, startManager, stopManager, waitFor, within, type RunningManager } from '../helpers/manager.ts';
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

/** The same in process, with a CLI deadline of `deadlineMs`. */
async function startInProcessWithCli(
  t: Test,
  layout: KeystoreLayout,
  pids: string,
  script: string,
  deadlineMs: number,
): Promise<InProcessUpdater> {
  const wrapper = path.join(layout.root, 'elasticsearch-keystore');
  fs.writeFileSync(wrapper, script, { mode: 0o755 });
  writeSecret(layout.sourceDir, { a: 'A1' });
  const running = await startInProcess(t, layout, { env: { KEYSTORE_BINARY: wrapper }, cliDeadlineMs: deadlineMs });
  // The updater's close waits for a call in flight, which its deadline ends; these are what the group kill missed.
  t.teardown(() => {
    for (const pid of readPids(pids)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  return running;
}

t.test(
  'a CLI stuck in a child holding its pipes: killed with its group at the deadline, failed, the first sync ends',
  async (t) => {
    const layout = keystoreLayout();
    const pids = path.join(layout.root, 'cli-pids');
    // The shell waits on a child that holds stdout and stderr: killing the shell alone would leave the pipes open.
    const stuck = `#!/bin/sh\necho $$ >> '${pids}'\nsleep 100000 &\necho $! >> '${pids}'\nwait\n`;
    const running = await startInProcessWithCli(t, layout, pids, stuck, 500);
    // The manager starts Elasticsearch once the first sync has ended, failed or not.
    await within(running.updater.firstSync(), 'the first sync to end at the deadline', 20_000);
    const status = running.status();
    t.equal(status.state, 'failed');
    t.match(
      status.reason,
      /^elasticsearch-keystore add-file gave no answer within 0\.5 s; its process group was killed/,
    );
    const [shell, sleeper] = readPids(pids);
    t.ok(shell && sleeper, 'the CLI and its child ran');
    await waitFor(() => !isAlive(shell) && !isAlive(sleeper), 'the CLI and its child to be gone', 5_000);
    t.ok(
      running.logs.some((r) => r['event.action'] === 'signal' && /sent SIGKILL to group/.test(r.message)),
      'the group kill is logged',
    );
    // The retry is stuck in flight again: the status stays failed and says since when.
    const retrying = await inProcessStatusWhere(running, (s) => s.syncingSince !== null, 'the retry in flight');
    t.equal(retrying.state, 'failed', 'a retry in flight does not hide the failure');
    t.match(retrying.reason, /; retrying now \(since \d{4}-/);
    t.match(keystoreHealthReasons(retrying), [/^the keystore updater failed: /], '/health shows the failure');
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
