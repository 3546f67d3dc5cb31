// Certificates the node cannot use are reported and ignored: one issued for
// another key, and one for our key that has expired. The process starts only
// when a usable one arrives.

import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { certLayout, probePort, startCertManager } from '../helpers/cert-manager.ts';
import { stopManager, waitFor, type LogRecord, type RunningManager } from '../helpers/manager.ts';
import { createKeyAndCsr, createTestCa } from '../helpers/openssl.ts';
import { createSecretVolume } from '../helpers/secret-volume.ts';

const rejections = (manager: RunningManager): LogRecord[] =>
  manager.logs.filter((r) => r['event.action'] === 'certificate-rejected');

t.test('a wrong certificate, then an expired one, then the right one', async (t) => {
  const layout = certLayout();
  const ca = createTestCa(path.join(layout.root, 'ca'));
  const secret = createSecretVolume(layout.secretDir);
  const manager = await startCertManager(layout);
  t.teardown(() => stopManager(manager));
  const listening = await manager.waitForLog((r) => r['event.action'] === 'csr-listening', 'the CSR port');
  const csrPort = listening['server.port'] as number;
  const csrPem = await (await fetch(`http://127.0.0.1:${csrPort}/csr`)).text();

  const holdsBack = async (t: Test, what: string): Promise<void> => {
    t.equal((await manager.status()).state, 'notStarted', `${what}: the process is not started`);
    t.equal((await manager.request('POST', '/es/start')).status, 503, `${what}: POST /es/start is still refused`);
    t.equal(await probePort(csrPort), 'open', `${what}: the CSR is still served`);
    t.notOk(fs.existsSync(layout.pidsFile), `${what}: the process never ran`);
  };

  await t.test('a certificate signed for another key is reported and ignored', async (t) => {
    const stranger = createKeyAndCsr(path.join(layout.root, 'stranger'), 'stranger');
    secret.update({ 'cert.pem': ca.sign(stranger.csrPem) + ca.certPem });
    const logged = await manager.waitForLog(
      (r) => r['event.action'] === 'certificate-rejected',
      'the wrong certificate to be rejected',
    );
    t.equal(logged['log.level'], 'warn', 'logged as a warning');
    t.match(logged.message, /CN ?= ?stranger is for another key/, 'the log names the certificate and the problem');
    const { json: health } = await manager.request('GET', '/health');
    t.equal(health.certificates.state, 'waiting', '/health: still waiting');
    t.match(health.certificates.reason, /CN ?= ?stranger is for another key/, '/health: the reason names it');
    t.equal(health.status, 'ok', 'a wrong certificate is not a failure of the manager');
    await holdsBack(t, 'wrong certificate');
  });

  await t.test('our key, but expired: reported and ignored', async (t) => {
    secret.update({ 'cert.pem': ca.sign(csrPem, { days: -1 }) + ca.certPem });
    await waitFor(() => rejections(manager).length === 2, 'the expired certificate to be rejected');
    t.match(
      rejections(manager)[1].message,
      /matches the key but expired at \d{4}-/,
      'the log says it expired, and when',
    );
    const { json: health } = await manager.request('GET', '/health');
    t.match(health.certificates.reason, /matches the key but expired/, '/health: the reason says expired');
    await holdsBack(t, 'expired certificate');
  });

  await t.test('each problem is logged once, though the poll sees it again', async (t) => {
    // Two polls (2 s each) with the expired certificate still in place.
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    t.equal(rejections(manager).length, 2, 'still two rejection lines');
  });

  await t.test('the right certificate, CA first in the chain: accepted', async (t) => {
    secret.update({ 'cert.pem': ca.certPem + ca.sign(csrPem) });
    await waitFor(async () => (await manager.status()).state === 'started', 'the process to start');
    await waitFor(() => fs.existsSync(layout.pidsFile), 'fake-es to write its pids');
    t.pass('the process started');
    t.equal(await probePort(csrPort), 'refused', 'the CSR port is closed');
    t.equal((await manager.request('GET', '/health')).json.certificates.state, 'ready', '/health: certificates ready');
  });
});
