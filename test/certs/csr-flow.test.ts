// The whole bootstrap as an operator sees it: the manager makes a key and a
// CSR, serves the CSR, refuses to start Elasticsearch, and once a signed
// certificate lands in the Secret volume it closes the CSR port and starts.

import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { certLayout, probePort, startCertManager } from '../helpers/cert-manager.ts';
import { stopManager, waitFor } from '../helpers/manager.ts';
import { corruptSignature, createTestCa, openssl, publicKeyOf } from '../helpers/openssl.ts';
import { createSecretVolume } from '../helpers/secret-volume.ts';

const POD_IP = '10.11.12.13';

t.test('key, CSR over HTTP, signed certificate via a Secret update, then the process starts', async (t) => {
  const layout = certLayout();
  const ca = createTestCa(path.join(layout.root, 'ca'));
  const secret = createSecretVolume(layout.secretDir);
  // The Secret exists before it holds a certificate, as when the operator creates it empty.
  secret.update({ 'ca.pem': ca.certPem });

  const manager = await startCertManager(layout, { podIp: POD_IP });
  t.teardown(() => stopManager(manager));
  const listening = await manager.waitForLog((r) => r['event.action'] === 'csr-listening', 'the CSR port');
  const csrPort = listening['server.port'] as number;
  t.ok(
    Number.isInteger(csrPort) && csrPort > 0 && csrPort !== manager.port,
    `the CSR is served on its own port (${csrPort})`,
  );

  const response = await fetch(`http://127.0.0.1:${csrPort}/csr`);
  const csrPem = await response.text();
  t.equal(response.status, 200, 'GET /csr answers 200');
  t.equal(response.headers.get('content-type'), 'application/pkcs10', 'with the PKCS#10 media type');
  t.match(
    csrPem,
    /^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE REQUEST-----\n$/,
    'the body is one PEM CSR',
  );
  t.equal(fs.readFileSync(layout.csrPath, 'utf8'), csrPem, 'the same CSR is written to --csr-path');

  await t.test('openssl accepts the CSR: signature, names, key', async (t) => {
    const verified = openssl(['req', '-verify', '-noout', '-text'], csrPem);
    t.equal(verified.status, 0, 'openssl parses it');
    t.match(verified.output, /self-signature verify OK/, 'the signature verifies');
    t.match(verified.output, new RegExp(`Subject: CN ?= ?${os.hostname()}\\n`), 'CN is the host name');
    t.match(verified.output, /Signature Algorithm: sha256WithRSAEncryption/, 'signed with SHA-256 and RSA');
    t.match(verified.output, /Public-Key: \(2048 bit\)/, 'for an RSA 2048 key');
    const sans = /X509v3 Subject Alternative Name: *\n\s*(.+)\n/.exec(verified.output)?.[1];
    t.same(
      sans?.split(', ').sort(),
      [`DNS:${os.hostname()}`, `IP Address:${POD_IP}`].sort(),
      'SANs: the host name and POD_IP',
    );
    t.equal(
      publicKeyOf('csr', csrPem),
      publicKeyOf('key', fs.readFileSync(layout.keyPath, 'utf8')),
      'the CSR carries the public key of --private-key-path',
    );

    // Negative control: the same check flags a CSR whose signature was tampered with
    // (OpenSSL 3.0 still exits 0 then, so the text is what counts).
    const tampered = openssl(['req', '-verify', '-noout'], corruptSignature(csrPem));
    t.match(tampered.output, /self-signature verify failure/, 'openssl flags a tampered CSR');
    t.notMatch(tampered.output, /verify OK/, 'and does not say OK for it');
  });

  await t.test('the private key file', async (t) => {
    const stat = fs.statSync(layout.keyPath);
    t.equal(stat.mode & 0o777, 0o600, 'mode 0600');
    t.match(fs.readFileSync(layout.keyPath, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8 PEM');
    t.same(fs.readdirSync(path.dirname(layout.keyPath)), ['node.key'], 'no temporary file is left beside it');
  });

  await t.test('the CSR server answers nothing else', async (t) => {
    const other = await fetch(`http://127.0.0.1:${csrPort}/cert`);
    t.equal(other.status, 404, 'another path: 404');
    t.same((await other.json()).error.type, 'resource_not_found_exception', 'in the error shape');
    const post = await fetch(`http://127.0.0.1:${csrPort}/csr`, { method: 'POST', body: 'x' });
    t.equal(post.status, 405, 'POST /csr: 405');
    t.equal(post.headers.get('allow'), 'GET', 'with Allow: GET');
    const body = await post.json();
    t.same(Object.keys(body).sort(), ['error', 'status'], 'body is {error, status}');
    t.equal(body.status, 405, 'status repeats the code');
    t.equal(body.error.type, 'method_not_allowed_exception', 'error.type names the problem');
    t.type(body.error.reason, 'string', 'error.reason explains it');
  });

  await t.test('while waiting, the process is held back and /health says why', async (t) => {
    const health = await manager.request('GET', '/health');
    t.equal(health.status, 200, '/health answers 200');
    t.equal(health.json.status, 'ok', 'waiting is not a failure');
    // The open /health names no file (the contract's Health section); the paths are hidden, not absent.
    t.match(
      health.json.certificates,
      { state: 'waiting', certPath: '<path>', csrPath: '<path>', port: csrPort },
      'certificates: waiting, with the port and hidden paths',
    );
    t.match(health.json.certificates.reason, 'no certificate at <path>', 'the reason says what is missing');
    t.ok(!Number.isNaN(Date.parse(health.json.certificates.since)), 'since is a timestamp');

    const start = await manager.request('POST', '/es/start');
    t.equal(start.status, 503, 'POST /es/start: 503');
    t.equal(start.json.error.type, 'start_blocked_exception', 'blocked, in the error shape');
    t.equal(
      start.json.error.reason,
      'waiting for the signed certificate (--cert-path)',
      'the reason names the option, not the file (issue 13: no path in an error body)',
    );
    t.notMatch(start.text, layout.certPath, 'the body carries no file path');
    t.equal((await manager.status()).state, 'notStarted', '/es/status: notStarted');
    t.notOk(fs.existsSync(layout.pidsFile), 'the process never ran');
  });

  await t.test('a signed certificate arrives through an atomic Secret update', async (t) => {
    t.equal(await probePort(csrPort), 'open', 'the CSR port is open before');
    secret.update({ 'ca.pem': ca.certPem, 'cert.pem': ca.sign(csrPem) + ca.certPem });
    await waitFor(async () => (await manager.status()).state === 'started', 'the process to start');
    await waitFor(() => fs.existsSync(layout.pidsFile), 'fake-es to write its pids');
    t.pass('the process started');
    t.equal(await probePort(csrPort), 'refused', 'the CSR port refuses connections');

    const { json: health } = await manager.request('GET', '/health');
    t.equal(health.certificates.state, 'ready', '/health: certificates ready');
    t.notOk('port' in health.certificates, 'and no port any more');
    t.match(health.certificates.reason, /matches the private key/, 'the reason says why it was accepted');
    t.ok(
      manager.logs.some((r) => r['event.action'] === 'certificate-accepted'),
      'the acceptance is logged',
    );
    t.notOk(
      manager.logs.some((r) => r['event.action'] === 'certificate-rejected'),
      'nothing was rejected on the way',
    );
  });
});
