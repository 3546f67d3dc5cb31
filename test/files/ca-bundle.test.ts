// CERTIFICATES_PATH as the reload call reads it: a PEM file, or a directory
// holding ca.crt, else ca.pem, else every *.crt and *.pem in it. In process,
// on real files and real certificates.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { loadCaBundle } from '../../src/files/ca-bundle.ts';
import { tempDir } from '../helpers/manager.ts';
import { makeCertificates } from '../helpers/keystore.ts';

const first = makeCertificates(path.join(tempDir('pm-ca-'), 'one'), 'first');
const second = makeCertificates(path.join(tempDir('pm-ca-'), 'two'), 'second');

function directory(files: Record<string, string>): string {
  const dir = tempDir('pm-ca-dir-');
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

t.test('a file: its certificates', async (t) => {
  t.same(await loadCaBundle(first.caFile), { ok: true, pem: first.ca.trim() + '\n' });
});

t.test('a directory: ca.crt first, then ca.pem, then every *.crt and *.pem', async (t) => {
  const cases: [string, Record<string, string>, string[]][] = [
    ['ca.crt wins over the rest', { 'ca.crt': first.ca, 'ca.pem': second.ca, 'other.crt': second.ca }, [first.ca]],
    ['ca.pem without ca.crt', { 'ca.pem': second.ca, 'tls.crt': first.cert }, [second.ca]],
    [
      'no ca.*: every *.crt and *.pem, in name order; hidden and other files left alone',
      { 'b.pem': second.ca, 'a.crt': first.ca, 'notes.txt': 'not a CA', '.hidden.crt': 'garbage' },
      [first.ca, second.ca],
    ],
  ];
  for (const [what, files, expected] of cases) {
    const bundle = await loadCaBundle(directory(files));
    t.same(bundle, { ok: true, pem: expected.map((pem) => pem.trim()).join('\n') + '\n' }, what);
  }
});

t.test('nothing usable: a reason that says what is missing', async (t) => {
  const empty = directory({ README: 'no certificates here' });
  t.same(await loadCaBundle(empty), {
    ok: false,
    reason: `CERTIFICATES_PATH ${empty} holds no ca.crt, ca.pem, *.crt or *.pem`,
  });
  const notPem = directory({ 'ca.crt': 'just text' });
  t.same(await loadCaBundle(notPem), {
    ok: false,
    reason: `CERTIFICATES_PATH: ${path.join(notPem, 'ca.crt')} holds no PEM certificate`,
  });
  const missing = path.join(empty, 'not-mounted');
  t.same(await loadCaBundle(missing), {
    ok: false,
    reason: `cannot read the CA at CERTIFICATES_PATH ${missing}: does not exist`,
  });
});
