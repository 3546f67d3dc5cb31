// The backstop poll: cheap signatures of SOURCE_DIR and the keystore, with
// baselines that follow the sync passes, and a rescan only when something
// changed. In process, on real files, with the poll shortened from 30 s.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createChangeDetector, sourceSignature } from '../../src/keystore/change-detector.ts';
import { watchSource } from '../../src/keystore/source-watcher.ts';
import { createLogger } from '../../src/log/logger.ts';
import { tempDir, waitFor } from '../helpers/manager.ts';
import { writeSecret } from '../helpers/keystore.ts';

const quiet = createLogger(() => {});

function layout() {
  const root = tempDir('pm-backstop-');
  const sourceDir = path.join(root, 'secrets');
  const keystore = path.join(root, 'elasticsearch.keystore');
  writeSecret(sourceDir, { 's3.client.default.access_key': 'AKIA', 's3.client.default.secret_key': 'first' });
  fs.writeFileSync(path.join(sourceDir, 'plain.setting'), 'bbbb');
  fs.writeFileSync(keystore, 'keystore v1');
  return { sourceDir, keystore };
}

t.test('nothing changed: no', async (t) => {
  const { sourceDir, keystore } = layout();
  const changes = createChangeDetector(sourceDir, keystore);
  t.equal(await changes.hasChanged(), false);
  t.equal(await changes.hasChanged(), false);
});

t.test('every kind of change a rescan would see: yes, once', async (t) => {
  const cases: [string, (l: ReturnType<typeof layout>) => void][] = [
    [
      'a Secret update (..data swap)',
      (l) =>
        writeSecret(l.sourceDir, { 's3.client.default.access_key': 'AKIA', 's3.client.default.secret_key': 'second' }),
    ],
    [
      'a setting added',
      (l) =>
        writeSecret(l.sourceDir, {
          's3.client.default.access_key': 'AKIA',
          's3.client.default.secret_key': 'first',
          'gcs.client.default.credentials_file': '{}',
        }),
    ],
    ['a setting removed', (l) => writeSecret(l.sourceDir, { 's3.client.default.access_key': 'AKIA' })],
    [
      'a plain file rewritten in place, same size',
      (l) => fs.writeFileSync(path.join(l.sourceDir, 'plain.setting'), 'aaaa'),
    ],
    ['the keystore rewritten by someone else', (l) => fs.writeFileSync(l.keystore, 'keystore v2')],
    ['the keystore deleted', (l) => fs.rmSync(l.keystore)],
    ['SOURCE_DIR deleted', (l) => fs.rmSync(l.sourceDir, { recursive: true })],
  ];
  for (const [what, change] of cases) {
    const l = layout();
    const changes = createChangeDetector(l.sourceDir, l.keystore);
    t.equal(await changes.hasChanged(), false, `${what}: not before`);
    // Older kernels stamp files at a coarse tick: let it move, as it would in 30 s.
    await sleep(20);
    change(l);
    t.equal(await changes.hasChanged(), true, `${what}: seen`);
    t.equal(await changes.hasChanged(), false, `${what}: seen once`);
  }
});

t.test("a pass's own work is its baseline: the keystore it wrote and the directory it read", async (t) => {
  const l = layout();
  const changes = createChangeDetector(l.sourceDir, l.keystore);
  // The watcher saw a Secret update; the pass reads it and writes the keystore.
  writeSecret(l.sourceDir, { 's3.client.default.access_key': 'AKIA', 's3.client.default.secret_key': 'second' });
  await changes.passStarting();
  await sleep(20);
  fs.writeFileSync(l.keystore, 'keystore v2, written by the pass');
  changes.passEnded();
  t.equal(await changes.hasChanged(), false, 'no rescan for what the pass already handled');
  // A change while a pass runs, after it read the directory, is still seen at the next tick.
  await changes.passStarting();
  await sleep(20);
  writeSecret(l.sourceDir, { 's3.client.default.access_key': 'AKIA', 's3.client.default.secret_key': 'third' });
  changes.passEnded();
  t.equal(await changes.hasChanged(), true, 'a change after the read is not lost');
});

t.test('the poll asks for a rescan only on a change, and on an error', async (t) => {
  const { sourceDir } = layout();
  let answer: boolean | Error = false;
  const reasons: string[] = [];
  const hasChanged = async () => {
    if (answer instanceof Error) throw answer;
    return answer;
  };
  const watcher = watchSource(sourceDir, (why) => reasons.push(why), hasChanged, quiet, 100);
  t.teardown(() => watcher.close());
  await watcher.ready;
  await sleep(700);
  const polls = () => reasons.filter((why) => why === 'backstop poll').length;
  t.equal(polls(), 0, 'six quiet ticks, no rescan');
  answer = true;
  await waitFor(() => polls() > 0, 'a backstop rescan after a change', 5_000);
  answer = false;
  const count = polls();
  await sleep(500);
  t.equal(polls(), count, 'quiet again');
  answer = new Error('EIO');
  await waitFor(() => polls() > count, 'a backstop rescan when the check fails', 5_000);
  t.ok(await sourceSignature(sourceDir), 'the signature of a real Secret volume can be taken');
});

t.test(
  'the keystore is watched: deleted or replaced behind our back, a rescan follows at once; our own pass writes are quiet',
  async (t) => {
    const { sourceDir, keystore } = layout();
    const changes = createChangeDetector(sourceDir, keystore);
    const reasons: string[] = [];
    // An hour: only the keystore's watch can answer within the test's deadlines.
    const watcher = watchSource(
      sourceDir,
      (why) => reasons.push(why),
      () => changes.hasChanged(),
      quiet,
      3_600_000,
      { path: keystore, hasChanged: () => changes.keystoreChanged() },
    );
    t.teardown(() => watcher.close());
    await watcher.ready;
    const count = () => reasons.filter((why) => why === 'keystore changed').length;

    fs.rmSync(keystore);
    await waitFor(() => count() === 1, 'a rescan after the keystore was deleted', 10_000);

    const replacement = `${keystore}.new`;
    fs.writeFileSync(replacement, 'keystore from elsewhere');
    fs.renameSync(replacement, keystore);
    await waitFor(() => count() === 2, 'a rescan after the keystore was replaced', 10_000);

    // Our own pass: its writes raise events, but the pass's end takes the baseline.
    await changes.passStarting();
    fs.writeFileSync(replacement, 'keystore v2, ours');
    fs.renameSync(replacement, keystore);
    await sleep(500);
    await changes.passEnded();
    // A write to a sibling is not the keystore's event; a fact to wait for: the same-named file's next event is seen.
    fs.writeFileSync(path.join(path.dirname(keystore), 'sibling'), 'x');
    fs.rmSync(keystore);
    await waitFor(() => count() === 3, 'the deletion after our pass is seen', 10_000);
    // (SOURCE_DIR's watch may still report the layout's own writes: not the keystore's business.)
    t.same(
      reasons.filter((why) => why.startsWith('keystore')),
      ['keystore changed', 'keystore changed', 'keystore changed'],
      'one rescan per outside change, none for our pass or the sibling',
    );
  },
);
