// The one atomic writer, in process on real files: nothing is ever written
// through a symlink planted at a temporary name or at the target, the mode is
// exact whatever the umask, and a failed write leaves no temporary file.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../src/files/atomic-write.ts';
import { saveRecord, emptyRecord } from '../../src/keystore/applied-record.ts';
import { writeStateFile } from '../../src/supervisor/state-file.ts';
import { tempDir } from '../helpers/manager.ts';

const VICTIM_CONTENT = 'do not touch\n';

function victim(dir: string): string {
  const file = path.join(dir, 'victim');
  fs.writeFileSync(file, VICTIM_CONTENT, { mode: 0o600 });
  return file;
}

const STATE = {
  version: 1,
  name: 'es',
  desired: 'started',
  state: 'started',
  lastExit: null,
  restarts: 0,
  updatedAt: '2026-01-01T00:00:00.000Z',
} as const;

t.test('the temporary names of the old writers lead nowhere: symlinks planted there are left alone', async (t) => {
  // The names the state file and the keystore record used to write through: <file>.<pid>.tmp.
  const writers: [string, (file: string) => Promise<void> | void][] = [
    ['state file', (file) => writeStateFile(file, STATE)],
    ['keystore record', (file) => saveRecord(file, emptyRecord())],
  ];
  for (const [what, write] of writers) {
    const dir = tempDir('pm-atomic-');
    const target = path.join(dir, 'file.json');
    const file = victim(dir);
    fs.symlinkSync(file, `${target}.${process.pid}.tmp`);
    await write(target);
    t.equal(fs.readFileSync(file, 'utf8'), VICTIM_CONTENT, `${what}: the victim is untouched`);
    t.equal(fs.statSync(file).mode & 0o777, 0o600, `${what}: and keeps its mode`);
    t.doesNotThrow(() => JSON.parse(fs.readFileSync(target, 'utf8')), `${what}: the file itself was written`);
    t.same(
      fs.readdirSync(dir).filter((name) => name.startsWith('.')),
      [],
      `${what}: no temporary file is left`,
    );
  }
});

t.test('a symlink at the target is replaced, not written through', async (t) => {
  for (const [what, write] of [
    ['async', (file: string, data: string) => writeFileAtomic(file, data, { mode: 0o600 })],
  ] as const) {
    const dir = tempDir('pm-atomic-');
    const file = victim(dir);
    const target = path.join(dir, 'target');
    fs.symlinkSync(file, target);
    await write(target, 'new\n');
    t.equal(fs.readFileSync(file, 'utf8'), VICTIM_CONTENT, `${what}: the link's target is untouched`);
    t.equal(fs.lstatSync(target).isFile(), true, `${what}: the target is now a regular file`);
    t.equal(fs.readFileSync(target, 'utf8'), 'new\n');
  }
});

t.test('the mode is exact whatever the umask; bytes and strings both work', async (t) => {
  const dir = tempDir('pm-atomic-');
  const previous = process.umask(0o077);
  t.teardown(() => void process.umask(previous));
  await writeFileAtomic(path.join(dir, 'helper'), new Uint8Array([0x7f, 0x45, 0x4c, 0x46]), { mode: 0o755 });
  t.equal(fs.statSync(path.join(dir, 'helper')).mode & 0o777, 0o755);
  t.same([...fs.readFileSync(path.join(dir, 'helper'))], [0x7f, 0x45, 0x4c, 0x46]);
  process.umask(0);
  await writeFileAtomic(path.join(dir, 'key'), 'secret', { mode: 0o600 });
  t.equal(fs.statSync(path.join(dir, 'key')).mode & 0o777, 0o600);
});

t.test('a failed rename leaves no temporary file behind', async (t) => {
  for (const [what, write] of [['async', (file: string) => writeFileAtomic(file, 'x', { mode: 0o644 })]] as const) {
    const dir = tempDir('pm-atomic-');
    // A non-empty directory at the target: rename(2) fails with EISDIR.
    fs.mkdirSync(path.join(dir, 'target'));
    fs.writeFileSync(path.join(dir, 'target', 'inside'), '');
    await t.rejects(write(path.join(dir, 'target')), { code: 'EISDIR' }, `${what}: the write fails`);
    t.same(fs.readdirSync(dir), ['target'], `${what}: nothing else is left in the directory`);
  }
});

t.test('a regular file in the way of the directory is reported as ENOTDIR', async (t) => {
  const dir = tempDir('pm-atomic-');
  fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
  await t.rejects(writeFileAtomic(path.join(dir, 'not-a-dir', 'file'), 'x', { mode: 0o644 }), { code: 'ENOTDIR' });
});
