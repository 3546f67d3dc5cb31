// The keystore changed behind the updater's back, with no change to the
// Secret: SOURCE_DIR's watcher reports nothing, the keystore's own watch
// (inotify on its directory) must; the backstop poll runs only every 10
// minutes, so a repair within the deadline is the watch's. Deleted, it is
// made again with every setting; edited by someone else, every setting is
// added again. Both managers run side by side.

import t from 'tap';
import fs from 'node:fs';
import { startManager, stopManager, waitFor, type RunningManager } from '../helpers/manager.ts';
import {
  cliCalls,
  keystoreLayout,
  keystoreStatus,
  readKeystore,
  runCli,
  settingsOf,
  statusWhere,
  writeSecret,
  type KeystoreLayout,
} from '../helpers/keystore.ts';

/** Generous for a pass on a busy machine; far shorter than the 10-minute backstop poll. */
const ONE_POLL_MS = 45_000;

async function synced(layout: KeystoreLayout): Promise<RunningManager> {
  writeSecret(layout.sourceDir, { 'a.setting': 'A1', 'b.setting': 'B1' });
  const manager = await startManager({ args: layout.args, env: layout.env });
  await statusWhere(manager, (s) => s.state === 'synced', 'the first sync');
  return manager;
}

t.test('a keystore deleted or edited behind our back is restored at once (the keystore is watched)', async (t) => {
  const deleted = keystoreLayout();
  const edited = keystoreLayout();
  const [deletedManager, editedManager] = await Promise.all([synced(deleted), synced(edited)]);
  t.teardown(() => Promise.all([stopManager(deletedManager), stopManager(editedManager)]).then(() => {}));

  fs.rmSync(deleted.keystorePath);
  runCli(edited.configDir, ['remove', 'a.setting']);
  t.same(settingsOf(edited.keystorePath), { 'b.setting': 'B1' }, 'someone removed a.setting');

  const expected = { 'a.setting': 'A1', 'b.setting': 'B1' };
  await Promise.all([
    waitFor(
      () => JSON.stringify(settingsOf(deleted.keystorePath)) === JSON.stringify(expected),
      'the deleted keystore to be made again',
      ONE_POLL_MS,
    ),
    waitFor(
      () => JSON.stringify(settingsOf(edited.keystorePath)) === JSON.stringify(expected),
      'the edited keystore to be repaired',
      ONE_POLL_MS,
    ),
  ]);
  t.ok(
    deletedManager.logs.some((r) => /the keystore .* is gone; adding every setting again/.test(String(r.message))),
    'the deletion is logged',
  );
  t.ok(
    editedManager.logs.some((r) => /modified outside the updater; re-adding every setting/.test(String(r.message))),
    'the outside edit is logged',
  );
  for (const manager of [deletedManager, editedManager]) {
    t.equal((await keystoreStatus(manager)).state, 'synced', 'synced again');
    t.equal(manager.child.exitCode, null, 'the manager kept running');
  }
});

t.test('a setting someone already removed: the remove call is made again without it', async (t) => {
  const layout = keystoreLayout();
  const manager = await synced(layout);
  t.teardown(() => stopManager(manager));
  runCli(layout.configDir, ['remove', 'b.setting']);
  const before = cliCalls(layout.cliLog).length;
  writeSecret(layout.sourceDir, { 'a.setting': 'A2' });
  await waitFor(
    () => JSON.stringify(settingsOf(layout.keystorePath)) === JSON.stringify({ 'a.setting': 'A2' }),
    'a.setting updated and b.setting gone',
  );
  const status = await statusWhere(
    manager,
    (s) => s.state === 'synced' && s.reason === 'keystore matches SOURCE_DIR',
    'the updater to settle',
  );
  t.same(status.settings, ['a.setting']);
  t.equal(status.consecutiveFailures, 0, 'no failure on the way');
  const removes = cliCalls(layout.cliLog)
    .slice(before)
    .filter((call) => call.argv[0] === 'remove');
  t.same(
    removes.map((call) => [call.argv.slice(1), call.exit]),
    [[['--', 'b.setting'], 78]],
    'one remove, refused: b.setting does not exist',
  );
  t.ok(
    manager.logs.some((r) => r.message === 'b.setting was already gone from the keystore'),
    'logged as already gone',
  );
});

t.test('KEYSTORE_PASSWORD given inline: the keystore is created with it and opened with it', async (t) => {
  const layout = keystoreLayout();
  writeSecret(layout.sourceDir, { 'a.setting': 'A1' });
  const manager = await startManager({
    args: layout.args,
    env: { ...layout.env, KEYSTORE_PASSWORD: 'inline-ks-secret' },
  });
  t.teardown(() => stopManager(manager));
  await statusWhere(manager, (s) => s.state === 'synced', 'the first sync');
  t.same(
    cliCalls(layout.cliLog).map((call) => call.argv.slice(0, 2)),
    [
      ['create', '-p'],
      ['add-file', '-f'],
    ],
    'created with a password, then one add-file',
  );
  t.throws(() => readKeystore(layout.keystorePath, ''), 'the keystore does not open without the password');
  t.equal(readKeystore(layout.keystorePath, 'inline-ks-secret')!['a.setting'], 'A1');
  writeSecret(layout.sourceDir, { 'a.setting': 'A2' });
  await waitFor(
    () => readKeystore(layout.keystorePath, 'inline-ks-secret')!['a.setting'] === 'A2',
    'an update through the password',
  );
});
