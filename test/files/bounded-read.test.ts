// The one bounded reader, in process: a device, a FIFO (with no writer: open
// would block without O_NONBLOCK), a directory and an oversized file are
// refused with a reason and never read; a file at the limit is read whole.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hashBoundedFile, readBoundedFile, readBoundedFileSync } from '../../src/files/bounded-read.ts';
import { parseShallowJson } from '../../src/files/parse-json.ts';
import { tempDir } from '../helpers/manager.ts';

const dir = tempDir('pm-bounded-');
const zero = path.join(dir, 'zero');
fs.symlinkSync('/dev/zero', zero);
const fifo = path.join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);
const big = path.join(dir, 'big');
fs.writeFileSync(big, Buffer.alloc(1025, 'a'));
const exact = path.join(dir, 'exact');
fs.writeFileSync(exact, Buffer.alloc(1024, 'b'));

const readers: [string, (file: string) => Promise<Buffer | string>][] = [
  ['readBoundedFile', (file) => readBoundedFile(file, { maxBytes: 1024 })],
  ['readBoundedFileSync', async (file) => readBoundedFileSync(file, { maxBytes: 1024 })],
  ['hashBoundedFile', (file) => hashBoundedFile(file, { maxBytes: 1024 })],
];

for (const [name, read] of readers) {
  t.test(`${name}: refused before any read`, async (t) => {
    await t.rejects(
      read(zero),
      { code: 'ENOTREG', message: 'not a regular file (a character device)' },
      '/dev/zero through a symlink',
    );
    await t.rejects(
      read(fifo),
      { code: 'ENOTREG', message: 'not a regular file (a FIFO)' },
      'a FIFO, without blocking',
    );
    await t.rejects(read(dir), { code: 'ENOTREG', message: 'not a regular file (a directory)' });
    await t.rejects(read(big), { code: 'EFBIG', message: 'larger than 1 KiB' }, 'one byte over the limit');
    await t.rejects(read(path.join(dir, 'absent')), { code: 'ENOENT' });
  });
  t.test(`${name}: a file at the limit is read whole`, async (t) => {
    const result = await read(exact);
    const expected = Buffer.alloc(1024, 'b');
    if (typeof result === 'string') t.equal(result, createHash('sha256').update(expected).digest('hex'));
    else t.same(result, expected);
  });
}

t.test('noFollow refuses a symlink as the last component', async (t) => {
  await t.rejects(readBoundedFile(zero, { maxBytes: 10, noFollow: true }), { code: 'ELOOP' });
});

t.test('deeply nested JSON is refused before parsing; brackets in strings do not count', async (t) => {
  t.throws(() => parseShallowJson('['.repeat(100) + ']'.repeat(100), 2), {
    message: 'JSON nested 100 levels deep (at most 2 expected)',
  });
  t.same(parseShallowJson('{"a":{"b":"[[[[{{{\\"["}}', 2), { a: { b: '[[[[{{{"[' } });
  t.throws(() => parseShallowJson('{"a":', 2), SyntaxError);
});
