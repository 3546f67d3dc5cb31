// SOURCE_DIR written carelessly or by someone hostile (issue 12 items 5 and 7):
// names that look like CLI options are settings like any other, symlinks lead
// nowhere outside the directory, an entry larger than a Secret can be is
// refused, and none of these blocks the other settings.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startManager, stopManager } from '../helpers/manager.ts';
import { cliCalls, keystoreLayout, settingsOf, statusWhere, writeSecret } from '../helpers/keystore.ts';

t.test('setting names that begin with - never become CLI options', async (t) => {
  const layout = keystoreLayout();
  // --help made the CLI print its help and exit 0 ("synced", no keystore); -f made every call fail.
  const payload = { '--help': 'H1', '-f': 'F1', '-x': 'X1', '--': 'D1', '-s': 'S1', 'plain.setting': 'P1' };
  writeSecret(layout.sourceDir, payload);
  const manager = await startManager({ args: layout.args, env: layout.env });
  t.teardown(() => stopManager(manager));
  await statusWhere(manager, (s) => s.state === 'synced' && s.settings.length === 6, 'the first sync');
  t.same(settingsOf(layout.keystorePath), payload, 'each of them is a setting with its value');

  writeSecret(layout.sourceDir, { 'plain.setting': 'P1' });
  await statusWhere(manager, (s) => s.state === 'synced' && s.settings.length === 1, 'the removal');
  t.same(settingsOf(layout.keystorePath), { 'plain.setting': 'P1' }, 'and removed like any other');
  t.ok(
    cliCalls(layout.cliLog).every((call) => call.exit === 0),
    'no CLI call failed',
  );
});

t.test(
  'symlinks are followed inside SOURCE_DIR only; a FIFO and an oversized entry are refused; the rest applies',
  async (t) => {
    const layout = keystoreLayout();
    const outside = path.join(layout.root, 'shadow');
    fs.writeFileSync(outside, 'root:$6$secret-hash:19000:0:99999:7:::\n');
    writeSecret(layout.sourceDir, { good: 'G1', 'at-the-limit': Buffer.alloc(1024 * 1024, 'L') });
    fs.symlinkSync(outside, path.join(layout.sourceDir, 'stolen'));
    fs.symlinkSync('../shadow', path.join(layout.sourceDir, 'stolen-relative'));
    fs.symlinkSync('/etc/shadow', path.join(layout.sourceDir, 'etc-shadow'));
    execFileSync('mkfifo', [path.join(layout.sourceDir, 'fifo')]);
    fs.writeFileSync(path.join(layout.sourceDir, 'too-big'), Buffer.alloc(1024 * 1024 + 1, 'B'));
    const manager = await startManager({ args: layout.args, env: layout.env });
    t.teardown(() => stopManager(manager));
    const status = await statusWhere(manager, (s) => s.state === 'synced' && s.settings.length === 2, 'the first sync');

    const settings = settingsOf(layout.keystorePath)!;
    t.same(Object.keys(settings).sort(), ['at-the-limit', 'good'], 'only the usable entries are settings');
    t.equal(settings['at-the-limit'].length, 1024 * 1024, 'an entry of exactly 1 MiB is accepted');
    t.same(
      status.ignored.map((entry: { name: string; reason: string }) => [
        entry.name,
        entry.reason.replace(/\(to .*\)/, '(to ...)'),
      ]),
      [
        ['etc-shadow', 'refused: a symlink out of SOURCE_DIR (to ...)'],
        ['fifo', 'refused: not a regular file (a FIFO)'],
        ['stolen', 'refused: a symlink out of SOURCE_DIR (to ...)'],
        ['stolen-relative', 'refused: a symlink out of SOURCE_DIR (to ...)'],
        ['too-big', 'refused: larger than 1 MiB (a Secret holds at most 1 MiB)'],
      ],
    );
    t.notOk(
      Object.values(settings).some((value) => value.includes('secret-hash')),
      'nothing of the outside file reached the keystore',
    );
    t.match(status.reason, /except etc-shadow, fifo, stolen, stolen-relative, too-big/);
  },
);
