// A SIGKILL of the built manager in the middle of a sync that adds a setting
// never leaves that setting in the keystore for good: once it is removed from
// the Secret (while the manager is down), the next manager removes it. The
// kill comes from where it lands in real life: the fake CLI's hook, after it
// saved and before it exited (the real one takes seconds to exit after its
// save). crash-steps.test.ts stops an updater in process at each of the four
// steps, the instant between the swap and the record write included, which
// nothing outside the manager can reach.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { startManager, stopManager, waitFor, type RunningManager } from '../helpers/manager.ts';
import {
  cliCalls,
  keystoreLayout,
  settingsOf,
  statusWhere,
  writeSecret,
  type KeystoreLayout,
} from '../helpers/keystore.ts';

const STEPS = ['after the CLI saved, before it exited'] as const;
type Step = (typeof STEPS)[number];

/** A shell script that, while `flag` exists, removes it and SIGKILLs the pid in `pidVariable`. */
function killerScript(file: string, flag: string, pidVariable: string, thenExit = ''): string {
  fs.writeFileSync(
    file,
    `#!/bin/sh\nif [ -e '${flag}' ]; then rm -f '${flag}'; kill -9 "$${pidVariable}"; ${thenExit} fi\n`,
    { mode: 0o755 },
  );
  return file;
}

function setUp(layout: KeystoreLayout) {
  const afterSave = path.join(layout.root, 'kill-after-save');
  const env = {
    ...layout.env,
    FAKE_KEYSTORE_AFTER_SAVE: killerScript(
      path.join(layout.root, 'after-save.sh'),
      afterSave,
      'FAKE_KEYSTORE_CALLER_PID',
    ),
  };
  const flagFor: Record<Step, string> = { 'after the CLI saved, before it exited': afterSave };
  return { env, flagFor };
}

async function synced(manager: RunningManager, names: string[], what: string): Promise<any> {
  return statusWhere(
    manager,
    (s) => s.state === 'synced' && JSON.stringify(s.settings) === JSON.stringify(names),
    what,
    60_000,
  );
}

for (const step of STEPS) {
  t.test(`killed ${step}: a setting removed from the Secret meanwhile leaves the keystore`, async (t) => {
    const layout = keystoreLayout();
    const { env, flagFor } = setUp(layout);
    writeSecret(layout.sourceDir, { a: 'A1' });
    const first = await startManager({ args: layout.args, env });
    t.teardown(() => stopManager(first));
    await synced(first, ['a'], 'the first sync');
    // Stopped on purpose, so no Elasticsearch outlives the kill, and the next manager starts none.
    t.equal((await first.request('POST', '/es/stop')).status, 200);
    await waitFor(async () => (await first.status()).state === 'stopped', 'the process to stop');

    const callsBefore = cliCalls(layout.cliLog).length;
    fs.writeFileSync(flagFor[step], '');
    writeSecret(layout.sourceDir, { a: 'A1', b: 'B1' });
    await waitFor(
      () => first.child.exitCode !== null || first.child.signalCode !== null,
      `the manager to be killed ${step}`,
      60_000,
    );
    t.equal(first.child.signalCode, 'SIGKILL', `the manager was killed ${step}`);
    t.notOk(fs.existsSync(flagFor[step]), 'at that step');
    // The orphaned CLI goes on to its end (its log line is its last act): whatever it would do is done.
    await waitFor(() => cliCalls(layout.cliLog).length > callsBefore, 'the orphaned CLI to finish');
    const keystoreAfterKill = settingsOf(layout.keystorePath);
    t.comment(`keystore after the kill: ${JSON.stringify(keystoreAfterKill)}`);

    writeSecret(layout.sourceDir, { a: 'A1' });
    const second = await startManager({ args: layout.args, env: layout.env });
    t.teardown(() => stopManager(second));
    await synced(second, ['a'], 'the sync after the restart');
    t.same(settingsOf(layout.keystorePath), { a: 'A1' }, 'b is not in the keystore');
    t.equal((await second.status()).state, 'stopped', 'the stop made before the kill still holds');
    const leftovers = fs
      .readdirSync(layout.configDir)
      .filter((name) => !['elasticsearch.keystore', 'elasticsearch.keystore.managed.json'].includes(name));
    t.same(
      leftovers.filter((name) => name.endsWith('.tmp')),
      [],
      'no temporary keystore left in the config directory',
    );

    // And the way back: the same name added again is applied and managed as usual.
    writeSecret(layout.sourceDir, { a: 'A1', b: 'B2' });
    await synced(second, ['a', 'b'], 'b added again');
    t.same(settingsOf(layout.keystorePath), { a: 'A1', b: 'B2' });
  });
}
