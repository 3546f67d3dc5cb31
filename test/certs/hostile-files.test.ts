// Files the cert initializer reads that are not what they should be (issue 12
// item 9): a FIFO or a device at --private-key-path is refused at once (exit
// 78) instead of hanging or filling memory, and a 25 MB file at --cert-path is
// reported while the manager keeps waiting, instead of aborting it.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { certLayout, startCertManager } from '../helpers/cert-manager.ts';
import { stopManager, within } from '../helpers/manager.ts';

const EXIT_CONFIG = 78;

for (const [what, plant, reason] of [
  ['a FIFO nobody writes to', (file: string) => execFileSync('mkfifo', [file]), 'not a regular file \\(a FIFO\\)'],
  [
    'a symlink to /dev/zero',
    (file: string) => fs.symlinkSync('/dev/zero', file),
    'not a regular file \\(a character device\\)',
  ],
  ['a 25 MB file', (file: string) => fs.writeFileSync(file, Buffer.alloc(25e6, 'k')), 'larger than 64 KiB'],
] as const) {
  t.test(`${what} at --private-key-path: exit 78 naming it, never read`, async (t) => {
    const layout = certLayout();
    fs.mkdirSync(path.dirname(layout.keyPath));
    plant(layout.keyPath);
    const manager = await startCertManager(layout, { waitForApi: false });
    t.teardown(() => stopManager(manager));
    const { code } = await within(manager.exited, 'the manager to exit');
    t.equal(code, EXIT_CONFIG);
    const error = manager.logs.find((r) => r['log.level'] === 'error');
    t.match(error?.message, new RegExp(`^--private-key-path ${layout.keyPath}: cannot read: ${reason}`));
    t.notOk(fs.existsSync(layout.pidsFile), 'the process never ran');
  });
}

t.test('a 25 MB file at --cert-path is reported and the wait goes on', async (t) => {
  const layout = certLayout();
  fs.writeFileSync(layout.certPath, Buffer.alloc(25e6, 'c'));
  const manager = await startCertManager(layout);
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['event.action'] === 'csr-listening', 'the CSR port');
  const { json: health } = await manager.request('GET', '/health');
  t.equal(health.certificates.state, 'waiting');
  t.match(health.certificates.reason, /larger than 1 MiB/, '/health says why the file is not used');
  t.equal(manager.child.exitCode, null, 'the manager keeps running');
});
