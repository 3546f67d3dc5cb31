// Problems no amount of waiting fixes end the manager with exit 78 and a
// message naming the flag or variable, before anything is started.

import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { certLayout, startCertManager, type CertManagerOptions } from '../helpers/cert-manager.ts';
import { stopManager, type RunningManager, within } from '../helpers/manager.ts';

const EXIT_CONFIG = 78;

async function expectConfigError(t: Test, manager: RunningManager, pidsFile: string, message: RegExp): Promise<void> {
  const { code } = await within(manager.exited, 'the manager to exit');
  t.equal(code, EXIT_CONFIG, 'the manager exits 78');
  const error = manager.logs.find((r) => r['log.level'] === 'error');
  t.match(error?.message, message, 'the error names the flag, the path and the problem');
  t.notOk(
    manager.logs.some((r) => r['event.action'] === 'csr-listening'),
    'no CSR was served',
  );
  t.notOk(fs.existsSync(pidsFile), 'the process never ran');
}

/** A path under a regular file: mkdir fails with ENOTDIR even for root, unlike a chmod'ed directory. */
function underARegularFile(root: string, ...rest: string[]): string {
  const blocker = path.join(root, 'not-a-directory');
  fs.writeFileSync(blocker, '');
  return path.join(blocker, ...rest);
}

const start = (layout: ReturnType<typeof certLayout>, options: CertManagerOptions) =>
  startCertManager(layout, { ...options, waitForApi: false });

t.test('the key directory cannot be created: exit 78 naming --private-key-path', async (t) => {
  const layout = certLayout();
  const keyPath = underARegularFile(layout.root, 'keys', 'node.key');
  const manager = await start(layout, { overrides: { '--private-key-path': keyPath } });
  await expectConfigError(
    t,
    manager,
    layout.pidsFile,
    new RegExp(`^--private-key-path ${keyPath}: cannot write the private key: ENOTDIR`),
  );
});

t.test(
  'the CSR file cannot be written (a read-only Secret volume): a warning, and the CSR is still served',
  async (t) => {
    const layout = certLayout();
    const csrPath = underARegularFile(layout.root, 'csr.pem');
    const manager = await startCertManager(layout, { overrides: { '--csr-path': csrPath } });
    t.teardown(() => stopManager(manager));
    const warning = await manager.waitForLog(
      (r) => r['event.action'] === 'csr-written',
      'the CSR write to be reported',
    );
    t.equal(warning['log.level'], 'warn');
    t.match(warning.message, new RegExp(`^--csr-path ${csrPath}: cannot write the CSR \\(ENOTDIR`));
    await manager.waitForLog((r) => r['event.action'] === 'csr-listening', 'the CSR port');
    t.equal(manager.child.exitCode, null, 'the manager is still running');
  },
);

t.test('an existing key that is not a key: exit 78, and the file is left alone', async (t) => {
  const layout = certLayout();
  fs.mkdirSync(path.dirname(layout.keyPath));
  fs.writeFileSync(layout.keyPath, 'this is not a key\n', { mode: 0o600 });
  const manager = await start(layout, {});
  await expectConfigError(
    t,
    manager,
    layout.pidsFile,
    new RegExp(`^--private-key-path ${layout.keyPath}: not an unencrypted PEM private key`),
  );
  t.equal(fs.readFileSync(layout.keyPath, 'utf8'), 'this is not a key\n', 'the file was not replaced');
});

t.test('POD_IP that is not an IP address: exit 78 naming POD_IP', async (t) => {
  const layout = certLayout();
  const manager = await start(layout, { podIp: 'pod-0.example' });
  await expectConfigError(t, manager, layout.pidsFile, /^POD_IP "pod-0\.example": not an IP address/);
});

// Negative control for the checks above: the same layout without the fault gets as far as serving the CSR.
t.test('control: the same layout with nothing wrong serves the CSR and keeps running', async (t) => {
  const layout = certLayout();
  const manager = await startCertManager(layout, { podIp: '10.0.0.1' });
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['event.action'] === 'csr-listening', 'the CSR port');
  t.notOk(
    manager.logs.some((r) => r['log.level'] === 'error'),
    'no error is logged',
  );
  t.equal(manager.child.exitCode, null, 'the manager is still running');
});
