// A restarted container finds its key and certificate from the last run: with
// a valid matching certificate nothing is generated or served; with an expired
// one the key is kept and a new CSR is made for it.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { certLayout, probePort, startCertManager } from '../helpers/cert-manager.ts';
import { freePort, stopManager, waitFor } from '../helpers/manager.ts';
import { createKeyAndCsr, createTestCa, publicKeyOf } from '../helpers/openssl.ts';

t.test('key and a valid matching certificate: ready at once, no CSR port', async (t) => {
  const layout = certLayout();
  const ca = createTestCa(path.join(layout.root, 'ca'));
  // PKCS#1, as the original wrote it and as `openssl genrsa -traditional` does.
  const existing = createKeyAndCsr(path.join(layout.root, 'made-earlier'), 'node-0', { traditional: true });
  t.match(existing.keyPem, /^-----BEGIN RSA PRIVATE KEY-----/, 'the existing key is PKCS#1');
  fs.mkdirSync(path.dirname(layout.keyPath));
  fs.writeFileSync(layout.keyPath, existing.keyPem, { mode: 0o600 });
  fs.writeFileSync(layout.certPath, ca.sign(existing.csrPem) + ca.certPem);
  const port = await freePort();

  const manager = await startCertManager(layout, { port });
  t.teardown(() => stopManager(manager));
  await waitFor(async () => (await manager.status()).state === 'started', 'the process to start');
  await waitFor(() => fs.existsSync(layout.pidsFile), 'fake-es to write its pids');
  t.pass('the process started');

  const actions = manager.logs.map((r) => r['event.action']);
  t.ok(actions.includes('certificate-reused'), 'the reuse is logged');
  t.notOk(actions.includes('csr-listening'), 'no CSR port was opened');
  t.notOk(actions.includes('private-key-generated'), 'no key was generated');
  t.notOk(actions.includes('private-key-mode'), 'a 0600 key draws no warning');
  t.equal(await probePort(port), 'refused', `nothing listens on --port ${port}`);
  t.equal(fs.readFileSync(layout.keyPath, 'utf8'), existing.keyPem, 'the key file is untouched');
  t.notOk(fs.existsSync(layout.csrPath), 'no CSR was written');

  const { json: health } = await manager.request('GET', '/health');
  t.match(
    health.certificates,
    { state: 'ready', certPath: '<path>' },
    '/health: certificates ready (the open /health hides the path)',
  );
  t.match(
    health.certificates.reason,
    /existing certificate CN ?= ?node-0 matches the private key/,
    'the reason says which certificate',
  );
  t.ok(Date.parse(health.certificates.notAfter) > Date.now(), 'notAfter is in the future');
});

t.test('key and an expired matching certificate: the key is kept and a new CSR is served for it', async (t) => {
  const layout = certLayout();
  const ca = createTestCa(path.join(layout.root, 'ca'));
  const existing = createKeyAndCsr(path.join(layout.root, 'made-earlier'), 'node-0');
  fs.mkdirSync(path.dirname(layout.keyPath));
  fs.writeFileSync(layout.keyPath, existing.keyPem, { mode: 0o644 });
  fs.writeFileSync(layout.certPath, ca.sign(existing.csrPem, { days: -1 }));

  const manager = await startCertManager(layout);
  t.teardown(() => stopManager(manager));
  const listening = await manager.waitForLog((r) => r['event.action'] === 'csr-listening', 'the CSR port');
  const csrPem = await (await fetch(`http://127.0.0.1:${listening['server.port']}/csr`)).text();

  t.equal(publicKeyOf('csr', csrPem), publicKeyOf('key', existing.keyPem), 'the new CSR is for the existing key');
  t.equal(fs.readFileSync(layout.keyPath, 'utf8'), existing.keyPem, 'the key file is untouched');
  t.equal(fs.statSync(layout.keyPath).mode & 0o777, 0o644, 'and so is its mode');
  const warning = manager.logs.find((r) => r['event.action'] === 'private-key-mode');
  t.match(warning?.message, /has mode 0644/, 'a key readable by others draws a warning');
  t.notOk(
    manager.logs.some((r) => r['event.action'] === 'private-key-generated'),
    'no key was generated',
  );
  const { json: health } = await manager.request('GET', '/health');
  t.equal(health.certificates.state, 'waiting', '/health: waiting');
  t.match(health.certificates.reason, /matches the key but expired/, '/health: because the certificate expired');
  t.equal((await manager.status()).state, 'notStarted', 'the process is held back');
});
