// Every reader of files the manager does not write goes through the bounded
// reader (issue 12 item 9), in process: a FIFO (which would block open(2)) and
// /dev/zero (which never ends) planted as a password file, a CA bundle, TLS
// material or the keystore record are refused with a reason, at once.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readTlsMaterial } from '../../src/api/tls-material.ts';
import { loadCaBundle } from '../../src/files/ca-bundle.ts';
import { fingerprintFile, loadRecord } from '../../src/keystore/applied-record.ts';
import { readSecret } from '../../src/files/secrets.ts';
import { tempDir } from '../helpers/manager.ts';

const dir = tempDir('pm-readers-');
const fifo = path.join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);
const zero = path.join(dir, 'zero');
fs.symlinkSync('/dev/zero', zero);
const KINDS = [
  [fifo, 'not a regular file (a FIFO)'],
  [zero, 'not a regular file (a character device)'],
] as const;

t.test('password files (PASSWORD_FILE, KEYSTORE_PASSWORD_FILE)', async (t) => {
  for (const [file, reason] of KINDS) {
    t.same(await readSecret(undefined, file, 'PASSWORD_FILE'), {
      ok: false,
      reason: `cannot read PASSWORD_FILE ${file}: ${reason}`,
    });
  }
});

t.test('CERTIFICATES_PATH, as a file and inside a directory', async (t) => {
  for (const [file, reason] of KINDS) {
    t.same(await loadCaBundle(file), {
      ok: false,
      reason: `cannot read the CA at CERTIFICATES_PATH: ${file}: ${reason}`,
    });
  }
  const withFifo = tempDir('pm-readers-ca-');
  execFileSync('mkfifo', [path.join(withFifo, 'ca.crt')]);
  const bundle = await loadCaBundle(withFifo);
  t.equal(bundle.ok, false, 'a FIFO named ca.crt is not waited on');
});

t.test('TLS material (--tls-cert, --tls-key, --tls-client-ca)', async (t) => {
  for (const [file, reason] of KINDS) {
    t.throws(() => readTlsMaterial({ certFile: file, keyFile: file }), { message: `--tls-cert ${file}: ${reason}` });
  }
  const big = path.join(dir, 'big.pem');
  fs.writeFileSync(big, Buffer.alloc(2 * 1024 * 1024 + 1, 'x'));
  t.throws(() => readTlsMaterial({ certFile: big, keyFile: big }), { message: `--tls-cert ${big}: larger than 1 MiB` });
});

t.test('the keystore record and the keystore fingerprint', async (t) => {
  for (const [file, reason] of KINDS) {
    const loaded = await loadRecord(file);
    t.equal(loaded.problem, `cannot read ${file}: ${reason}`);
    t.equal(loaded.record.settings.size, 0, 'an empty record: nothing is managed, nothing removed');
    await t.rejects(fingerprintFile(file), { code: 'ENOTREG' });
  }
});
