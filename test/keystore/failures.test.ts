// What goes wrong becomes a clear reason in the status; the manager and its
// process keep running; the keystore is never half-applied; and the updater
// recovers by itself once the cause is gone.

import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { startManager, stopManager, waitFor, type RunningManager } from '../helpers/manager.ts';
import { cliCalls, KEYSTORE_CLI, keystoreLayout, settingsOf, statusWhere, writeSecret } from '../helpers/keystore.ts';

async function assertStillServing(t: Test, manager: RunningManager): Promise<void> {
  const health = await manager.request('GET', '/health');
  t.equal(health.status, 200, 'the manager still answers');
  t.equal(health.json.status, 'degraded', '/health says degraded while the keystore updater failed');
  t.equal(health.json.keystore.state, 'failed');
  t.equal(health.json.process.state, 'started', 'the process was started anyway');
  t.equal(manager.child.exitCode, null, 'the manager is running');
}

t.test('a missing binary', async (t) => {
  const layout = keystoreLayout();
  writeSecret(layout.sourceDir, { a: 'A1' });
  const manager = await startManager({
    args: layout.args,
    env: { ...layout.env, KEYSTORE_BINARY: path.join(layout.root, 'no-such-elasticsearch-keystore') },
  });
  t.teardown(() => stopManager(manager));
  const status = await statusWhere(
    manager,
    (s) => s.state === 'failed' && s.consecutiveFailures >= 2,
    'a failed status, retried',
  );
  t.match(status.reason, /KEYSTORE_BINARY .*no-such-elasticsearch-keystore not found/);
  t.ok(status.nextRetryAt, 'a retry is scheduled');
  t.same(status.settings, [], 'nothing was applied');
  await waitFor(
    async () => (await manager.status()).state === 'started',
    'the process to start after the failed first sync',
  );
  await assertStillServing(t, manager);
  t.equal(fs.existsSync(layout.keystorePath), false, 'no keystore was made');
});

t.test(
  'a KEYSTORE_PATH whose directory does not exist: the CLI is never run, the status says why, and it recovers',
  async (t) => {
    const layout = keystoreLayout();
    // The real CLI's launcher falls back to its working directory for a missing ES_PATH_CONF: give the manager one to watch.
    const workingDir = path.join(layout.root, 'cwd');
    fs.mkdirSync(workingDir);
    const missingDir = path.join(layout.root, 'no-such-config');
    const keystorePath = path.join(missingDir, 'elasticsearch.keystore');
    writeSecret(layout.sourceDir, { a: 'A1' });
    const manager = await startManager({
      args: layout.args,
      cwd: workingDir,
      env: { ...layout.env, KEYSTORE_PATH: keystorePath },
    });
    t.teardown(() => stopManager(manager));
    const status = await statusWhere(
      manager,
      (s) => s.state === 'failed' && s.consecutiveFailures >= 2,
      'a failed status, retried',
    );
    t.match(
      status.reason,
      `the keystore's directory ${missingDir} (from KEYSTORE_PATH) does not exist; elasticsearch-keystore is not run`,
    );
    t.same(cliCalls(layout.cliLog), [], 'the CLI was never called');
    t.same(fs.readdirSync(workingDir), [], 'no keystore appeared in the working directory');
    t.notOk(fs.existsSync(missingDir), 'nor was the directory made');
    const failure = manager.logs.find((r) => r['event.action'] === 'keystore-sync' && r['event.outcome'] === 'failure');
    t.match(failure?.message, /does not exist; elasticsearch-keystore is not run/, 'the log says it too');
    await waitFor(
      async () => (await manager.status()).state === 'started',
      'the process to start after the failed first sync',
    );
    await assertStillServing(t, manager);

    fs.mkdirSync(missingDir);
    await statusWhere(
      manager,
      (s) => s.state === 'synced' && s.settings.length === 1,
      'recovery once the directory exists',
      90_000,
    );
    t.same(settingsOf(keystorePath), { a: 'A1' });
    t.same(fs.readdirSync(workingDir), [], 'still nothing in the working directory');
  },
);

t.test('a failing CLI: nothing half-applied, then recovery', async (t) => {
  const layout = keystoreLayout();
  // A wrapper that fails add-file and remove (as a simulated IOException, before touching the keystore) while a flag file exists.
  const flag = path.join(layout.root, 'fail-now');
  const wrapper = path.join(layout.root, 'elasticsearch-keystore');
  fs.writeFileSync(
    wrapper,
    `#!/bin/sh\n[ -e '${flag}' ] && export FAKE_KEYSTORE_FAIL=add-file,remove\nexec '${KEYSTORE_CLI}' "$@"\n`,
    { mode: 0o755 },
  );
  writeSecret(layout.sourceDir, { a: 'A1', b: 'B1' });
  const manager = await startManager({ args: layout.args, env: { ...layout.env, KEYSTORE_BINARY: wrapper } });
  t.teardown(() => stopManager(manager));
  await statusWhere(manager, (s) => s.state === 'synced' && s.settings.length === 2, 'the first sync');
  t.same(settingsOf(layout.keystorePath), { a: 'A1', b: 'B1' });

  fs.writeFileSync(flag, '');
  writeSecret(layout.sourceDir, { a: 'A2', c: 'C1' });
  const failed = await statusWhere(
    manager,
    (s) => s.state === 'failed' && s.consecutiveFailures >= 2,
    'the sync to fail twice',
  );
  t.match(
    failed.reason,
    /elasticsearch-keystore add-file failed with exit code 74: java\.io\.IOException: simulated I\/O failure/,
  );
  t.same(failed.settings, ['a', 'b'], 'the status still lists what is applied');
  t.same(
    settingsOf(layout.keystorePath),
    { a: 'A1', b: 'B1' },
    'the keystore is exactly as before: nothing half-applied',
  );
  await assertStillServing(t, manager);
  const failures = manager.logs.filter(
    (r) => r['event.action'] === 'keystore-sync' && r['event.outcome'] === 'failure' && r['log.level'] === 'error',
  );
  t.equal(failures.length, 1, 'the same failure is logged once, not at every retry');

  fs.rmSync(flag);
  const recovered = await statusWhere(manager, (s) => s.state === 'synced', 'recovery on the next retry', 20_000);
  t.same(settingsOf(layout.keystorePath), { a: 'A2', c: 'C1' }, 'the retry applied the whole update');
  t.same(recovered.settings, ['a', 'c']);
  t.equal(recovered.consecutiveFailures, 0);
  t.equal(recovered.counters.syncs, 2, 'counters: two updates written (the first sync and the recovery)');
  t.ok(recovered.counters.syncFailures >= 2, `counters: ${recovered.counters.syncFailures} failed attempts`);
  const after = cliCalls(layout.cliLog)
    .filter((c) => c.exit === 0)
    .slice(-2)
    .map((c) => c.argv[0]);
  t.same(after, ['add-file', 'remove'], 'the recovering sync took one add-file and one remove');
});

t.test(
  'a dangling entry is reported and skipped without blocking the others; a directory entry is only ignored',
  async (t) => {
    const layout = keystoreLayout();
    fs.mkdirSync(layout.sourceDir);
    fs.writeFileSync(path.join(layout.sourceDir, 'a'), 'A1');
    fs.writeFileSync(path.join(layout.sourceDir, 'b'), 'B1');
    const manager = await startManager({ args: layout.args, env: layout.env });
    t.teardown(() => stopManager(manager));
    await statusWhere(manager, (s) => s.state === 'synced' && s.settings.length === 2, 'the first sync');

    // Tests run as root, so chmod 000 would not stop a read: a symlink to nothing cannot be read by anyone.
    fs.symlinkSync(path.join(layout.root, 'nowhere'), path.join(layout.sourceDir, 'broken'));
    fs.mkdirSync(path.join(layout.sourceDir, 'a-directory'));
    // b was applied: now dangling, its applied value is held, not removed.
    fs.rmSync(path.join(layout.sourceDir, 'b'));
    fs.symlinkSync(path.join(layout.root, 'nowhere-either'), path.join(layout.sourceDir, 'b'));
    fs.writeFileSync(path.join(layout.sourceDir, 'a'), 'A2');
    // Each change may wake a pass of its own: wait for the one that saw them all, A2 included.
    const status = await statusWhere(
      manager,
      (s) => s.state === 'synced' && s.ignored.length === 3 && settingsOf(layout.keystorePath)?.a === 'A2',
      'the others to be applied',
    );
    t.same(settingsOf(layout.keystorePath), { a: 'A2', b: 'B1' }, 'a was updated; b kept its applied value');
    t.same(status.ignored, [
      { name: 'a-directory', reason: 'not a regular file (a directory)' },
      { name: 'b', reason: 'cannot read it: a dangling symlink, or it vanished while scanning', isHeld: true },
      { name: 'broken', reason: 'cannot read it: a dangling symlink, or it vanished while scanning', isHeld: true },
    ]);
    t.match(
      status.reason,
      /except b, broken \(refused or unreadable, left as they were/,
      'the status says what is left as it was',
    );
    t.ok(
      manager.logs.some(
        (r) =>
          r['log.level'] === 'warn' &&
          /SOURCE_DIR entries ignored: .*broken \(cannot read it: a dangling symlink/.test(r.message),
      ),
      'a warning names them',
    );

    fs.rmSync(path.join(layout.sourceDir, 'broken'));
    fs.rmSync(path.join(layout.sourceDir, 'b'));
    const fixed = await statusWhere(
      manager,
      (s) => s.state === 'synced' && s.settings.length === 1,
      'b removed once its entry is gone',
    );
    t.same(settingsOf(layout.keystorePath), { a: 'A2' });
    t.same(
      fixed.ignored,
      [{ name: 'a-directory', reason: 'not a regular file (a directory)' }],
      'the directory entry is listed as ignored',
    );
  },
);

t.test('KEYSTORE_UPDATER=true and a missing directory: failed until it appears', async (t) => {
  const layout = keystoreLayout();
  const manager = await startManager({ args: layout.args, env: { ...layout.env, KEYSTORE_UPDATER: 'true' } });
  t.teardown(() => stopManager(manager));
  const status = await statusWhere(
    manager,
    (s) => s.state === 'failed' && s.consecutiveFailures >= 2,
    'a failed status, retried',
  );
  t.equal(status.reason.startsWith(`SOURCE_DIR ${layout.sourceDir} does not exist`), true, status.reason);
  await waitFor(async () => (await manager.status()).state === 'started', 'the process to start anyway');
  await assertStillServing(t, manager);

  // The parent is watched meanwhile, then the directory itself once it exists. What finds it is told
  // by order, not by a time budget: the scan that syncs it starts before the back-off retry was due.
  const waiting = await statusWhere(
    manager,
    (s) => s.state === 'failed' && s.nextRetryAt !== null && Date.parse(s.nextRetryAt) - Date.now() > 1_000,
    'a retry still a second or more away',
  );
  writeSecret(layout.sourceDir, { late: 'L1' });
  const synced = await statusWhere(manager, (s) => s.state === 'synced', 'the directory to be picked up');
  t.ok(
    Date.parse(synced.lastScanAt) < Date.parse(waiting.nextRetryAt),
    `found by the watch on its parent: scanned at ${synced.lastScanAt}, before the retry due at ${waiting.nextRetryAt}`,
  );
  t.same(settingsOf(layout.keystorePath), { late: 'L1' });
  writeSecret(layout.sourceDir, { late: 'L2' });
  await waitFor(
    () => settingsOf(layout.keystorePath)?.late === 'L2',
    'later changes to be seen: the watch moved into the directory',
  );
});

t.test('disabled: KEYSTORE_UPDATER=false, or auto without the directory', async (t) => {
  for (const [what, mode, makeDir] of [
    ['auto without SOURCE_DIR', 'auto', false],
    ['false with SOURCE_DIR', 'false', true],
  ] as const) {
    const layout = keystoreLayout();
    if (makeDir) writeSecret(layout.sourceDir, { a: 'A1' });
    const manager = await startManager({ args: layout.args, env: { ...layout.env, KEYSTORE_UPDATER: mode } });
    await waitFor(async () => (await manager.status()).state === 'started', 'the process to start');
    const response = await manager.request('GET', '/keystore/status');
    t.equal(response.status, 404, `${what}: /keystore/status is 404`);
    t.equal((await manager.request('GET', '/health')).json.keystore, null, `${what}: /health has keystore null`);
    t.equal(fs.existsSync(layout.keystorePath), false, `${what}: the keystore is not touched`);
    await stopManager(manager);
  }
});
