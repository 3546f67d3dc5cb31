// The backstop poll: a cheap signature of SOURCE_DIR and the keystore, taken
// every tick, and a rescan only when it changed. In process, on real files,
// with the poll shortened from 30 s.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { changeSignature } from '../../src/keystore/change-signature.ts';
import { watchSource } from '../../src/keystore/source-watcher.ts';
import { createLogger } from '../../src/log/logger.ts';
import { tempDir, waitFor } from '../helpers/manager.ts';
import { writeSecret } from '../helpers/keystore.ts';

function layout() {
  const root = tempDir('pm-backstop-');
  const sourceDir = path.join(root, 'secrets');
  const keystore = path.join(root, 'elasticsearch.keystore');
  writeSecret(sourceDir, { 's3.client.default.access_key': 'AKIA', 's3.client.default.secret_key': 'first' });
  fs.writeFileSync(keystore, 'keystore v1');
  return { sourceDir, keystore, signature: () => changeSignature(sourceDir, [keystore]) };
}

t.test('the signature stays the same while nothing changes', async (t) => {
  const { signature } = layout();
  t.equal(await signature(), await signature());
});

t.test('the signature changes with every kind of change a rescan would see', async (t) => {
  const changes: [string, (l: ReturnType<typeof layout>) => void][] = [
    ['a Secret update (..data swap)', (l) => writeSecret(l.sourceDir, { 's3.client.default.access_key': 'AKIA', 's3.client.default.secret_key': 'second' })],
    ['a setting added', (l) => writeSecret(l.sourceDir, { 's3.client.default.access_key': 'AKIA', 's3.client.default.secret_key': 'first', 'gcs.client.default.credentials_file': '{}' })],
    ['a setting removed', (l) => writeSecret(l.sourceDir, { 's3.client.default.access_key': 'AKIA' })],
    ['a plain file rewritten in place, same size', (l) => fs.writeFileSync(path.join(l.sourceDir, 'plain.setting'), 'aaaa')],
    ['the keystore rewritten', (l) => fs.writeFileSync(l.keystore, 'keystore v2')],
    ['the keystore deleted', (l) => fs.rmSync(l.keystore)],
    ['SOURCE_DIR deleted', (l) => fs.rmSync(l.sourceDir, { recursive: true })],
  ];
  for (const [what, change] of changes) {
    const l = layout();
    fs.writeFileSync(path.join(l.sourceDir, 'plain.setting'), 'bbbb');
    const before = await l.signature();
    // Older kernels stamp files at a coarse tick: let it move, as it would in 30 s.
    await sleep(20);
    change(l);
    t.not(await l.signature(), before, what);
  }
});

t.test('the backstop asks for a rescan only when the signature changed since its last tick', async (t) => {
  const { sourceDir, signature } = layout();
  let current = 'first';
  const reasons: string[] = [];
  const quiet = createLogger(() => {});
  const watcher = watchSource(sourceDir, (why) => reasons.push(why), async () => current, quiet, 100);
  t.teardown(() => watcher.close());
  await watcher.ready;
  await sleep(700);
  t.same(reasons.filter((why) => why === 'backstop poll'), [], 'six quiet ticks, no rescan');
  current = 'second';
  await waitFor(() => reasons.includes('backstop poll'), 'a backstop rescan after the signature changed', 5_000);
  const count = reasons.filter((why) => why === 'backstop poll').length;
  await sleep(500);
  t.equal(reasons.filter((why) => why === 'backstop poll').length, count, 'one rescan for one change');
  t.ok(await signature(), 'the real signature of a Secret volume is readable');
});

t.test('a signature that cannot be taken still rescans', async (t) => {
  const { sourceDir } = layout();
  const reasons: string[] = [];
  const watcher = watchSource(sourceDir, (why) => reasons.push(why), () => Promise.reject(new Error('EIO')), createLogger(() => {}), 100);
  t.teardown(() => watcher.close());
  await waitFor(() => reasons.includes('backstop poll'), 'a backstop rescan', 5_000);
  t.pass('rescanned');
});
