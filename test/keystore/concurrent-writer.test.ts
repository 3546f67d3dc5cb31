// Another writer of the keystore (the image's entrypoint, a person with
// `kubectl exec`) runs the same lock-free CLI: neither its changes nor ours
// may be lost for good. The manager changes a private copy and puts it in
// place only if the live keystore is still the one it copied.

import t from 'tap';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startManager, stopManager, waitFor } from '../helpers/manager.ts';
import {
  KEYSTORE_CLI,
  keystoreLayout,
  secretRevision,
  settingsOf,
  statusWhere,
  writeSecret,
} from '../helpers/keystore.ts';

/** The other writer: the fake CLI's `add -x -f` of one setting, straight on the live keystore. */
function otherWriterAdd(
  configDir: string,
  name: string,
  value: string,
  env: Record<string, string>,
): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(KEYSTORE_CLI, ['add', '-x', '-f', name], {
      env: { ...process.env, ...env, ES_PATH_CONF: configDir },
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.once('error', reject);
    child.stdin.end(`${value}\n`);
    child.once('close', (code) => resolve(code));
  });
}

t.test('a write made while the manager updates its copy is kept, and the manager says so', async (t) => {
  const layout = keystoreLayout();
  // Run by the manager's add-file after it has read the keystore: the other writer adds its setting right then.
  const flag = path.join(layout.root, 'write-now');
  const hook = path.join(layout.root, 'other-writer.sh');
  fs.writeFileSync(
    hook,
    `#!/bin/sh\n[ -e '${flag}' ] || exit 0\nrm -f '${flag}'\necho from-operator | ES_PATH_CONF='${layout.configDir}' '${KEYSTORE_CLI}' add -x -f operator.setting\n`,
    { mode: 0o755 },
  );
  writeSecret(layout.sourceDir, { a: 'A1' });
  const manager = await startManager({ args: layout.args, env: { ...layout.env, FAKE_KEYSTORE_BEFORE_READ: hook } });
  t.teardown(() => stopManager(manager));
  await statusWhere(manager, (s) => s.state === 'synced' && s.settings.length === 1, 'the first sync');

  fs.writeFileSync(flag, '');
  writeSecret(layout.sourceDir, { a: 'A1', b: 'B1' });
  await statusWhere(manager, (s) => s.state === 'synced' && s.settings.length === 2, 'the update to be applied');
  t.notOk(fs.existsSync(flag), 'the other writer wrote during our update');
  t.same(
    settingsOf(layout.keystorePath),
    { a: 'A1', b: 'B1', 'operator.setting': 'from-operator' },
    "the other writer's setting and ours are both there",
  );
  const warning = manager.logs.find((r) => r['event.reason'] === 'concurrent-writer');
  t.equal(warning?.['log.level'], 'warn', 'the concurrent writer is logged at warn');
  t.match(warning?.message, /another writer changed the keystore .* while we updated a copy of it/);
  t.same(
    fs.readdirSync(layout.configDir).filter((name) => name.endsWith('.tmp')),
    [],
    'no temporary keystore left behind',
  );
});

t.test(
  'a concurrent writer loop against a series of Secret updates: the keystore ends as Secret ∪ the other writer',
  async (t) => {
    const layout = keystoreLayout();
    // Calls that take a while, as the real CLI's do, so that the two writers' read-to-save windows overlap.
    const cliEnv = { FAKE_KEYSTORE_JVM_MS: '40' };
    writeSecret(layout.sourceDir, { s0: 'v0' });
    const manager = await startManager({ args: layout.args, env: { ...layout.env, ...cliEnv } });
    t.teardown(() => stopManager(manager));
    await statusWhere(manager, (s) => s.state === 'synced' && s.settings.length === 1, 'the first sync');

    const others: Record<string, string> = {};
    const exits: (number | null)[] = [];
    let isWriting = true;
    const writer = (async () => {
      for (let i = 1; isWriting && i <= 40; i++) {
        others[`other.${i}`] = `o${i}`;
        exits.push(await otherWriterAdd(layout.configDir, `other.${i}`, `o${i}`, cliEnv));
      }
    })();

    const payloads: Record<string, string>[] = [
      { s0: 'v0', s1: 'v1' },
      { s0: 'v0b', s1: 'v1' },
      { s1: 'v1', s2: 'v2' },
      { s1: 'v1c', s2: 'v2', s3: 'v3' },
      { s3: 'v3', s4: 'v4' },
      { s3: 'v3d', s4: 'v4', s5: 'v5' },
    ];
    for (const payload of payloads) {
      writeSecret(layout.sourceDir, payload);
      const revision = secretRevision(layout.sourceDir);
      await statusWhere(
        manager,
        (s) => s.state === 'synced' && s.secretRevision === revision,
        `the update to ${JSON.stringify(Object.keys(payload))}`,
        60_000,
      );
    }
    isWriting = false;
    await writer;
    t.ok(exits.length >= 2, `the other writer ran alongside (${exits.length} calls)`);
    t.same(
      exits.filter((code) => code !== 0),
      [],
      'every call of the other writer succeeded',
    );

    // One more look, as the backstop poll or the keystore's watch would take: a save of the other writer that landed after ours and was
    // based on an older keystore must not have cost us our settings for good.
    const final = payloads[payloads.length - 1];
    writeSecret(layout.sourceDir, final, { force: true });
    const expected = Object.fromEntries(Object.entries({ ...others, ...final }).sort(([a], [b]) => (a < b ? -1 : 1)));
    await waitFor(
      () => JSON.stringify(settingsOf(layout.keystorePath)) === JSON.stringify(expected),
      'the keystore to hold the Secret and every setting of the other writer',
      60_000,
    );
    const status = await statusWhere(manager, (s) => s.state === 'synced', 'the updater to settle');
    t.same(status.settings, Object.keys(final).sort(), 'only the Secret’s names are managed');
    const conflicts = manager.logs.filter((r) => r['event.reason'] === 'concurrent-writer').length;
    t.comment(`${conflicts} update(s) dropped and redone because the other writer got there first`);
    t.same(
      fs.readdirSync(layout.configDir).filter((name) => name.endsWith('.tmp')),
      [],
      'no temporary keystore left behind',
    );
  },
);
