// After each change the updater asks Elasticsearch (here an HTTPS fake that
// re-reads the keystore) to reload secure settings: basic auth with a
// password file re-read at each call, the CA from CERTIFICATES_PATH, the
// keystore password in the body, and failures classified and retried. The
// updater runs in process: the test says whether the process has started, and
// its clock holds every retry until the test lets it go, so a back-off of
// seconds costs none and "no request during the back-off" is exact.

import t, { type Test } from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { startFakeEs, type FakeEs, type FakeEsRequest } from '../fixtures/keystore/fake-es.mjs';
import { keystoreHealthReasons } from '../../src/keystore/health-reasons.ts';
import { freePort, tempDir, waitFor } from '../helpers/manager.ts';
import {
  cliCalls,
  keystoreLayout,
  makeCertificates,
  readKeystore,
  writeSecret,
  type KeystoreLayout,
} from '../helpers/keystore.ts';
import {
  heldTimersClock,
  inProcessStatusWhere as statusWhere,
  startInProcess,
  type HeldTimersClock,
  type InProcessUpdater,
} from '../helpers/keystore-in-process.ts';

const RELOAD_PATH = '/_nodes/_local/reload_secure_settings';
const certs = makeCertificates(path.join(tempDir('pm-keystore-certs-'), 'certs'));
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Writes a new value, then waits for a successful reload after it. */
async function changeAndReload(manager: InProcessUpdater, sourceDir: string, value: string): Promise<any> {
  const before = manager.status().counters.reloads;
  writeSecret(sourceDir, { 's3.client.default.secret_key': value });
  return statusWhere(manager, (s) => s.state === 'reloaded' && s.counters.reloads > before, `a reload after ${value}`);
}

/** Like statusWhere, letting each held retry go at once: time passes as fast as the test can look. */
function statusAfterRetries(
  manager: InProcessUpdater,
  clock: HeldTimersClock,
  predicate: (status: any) => boolean,
  what: string,
): Promise<any> {
  return waitFor(
    () => {
      const status = manager.status();
      if (predicate(status)) return status;
      clock.fire();
      return undefined;
    },
    what,
    20_000,
    5,
  );
}

/** The updater with reloads on, against `endpoint`; `process.isStarted` is what it is told of the process. */
async function startReloading(t: Test, layout: KeystoreLayout, env: Record<string, string>) {
  const clock = heldTimersClock();
  const process = { isStarted: false };
  const manager = await startInProcess(t, layout, {
    env: { RELOAD_CREDENTIALS: 'true', ...env },
    clock,
    isProcessStarted: () => process.isStarted,
  });
  return { manager, clock, process };
}

function reloadRequests(es: FakeEs): FakeEsRequest[] {
  return es.requests.filter((r) => r.method === 'POST' && r.path === RELOAD_PATH);
}

function lastReloadRequest(es: FakeEs): FakeEsRequest {
  const last = reloadRequests(es).at(-1);
  if (!last) throw new Error('the fake ES received no reload call');
  return last;
}

t.test(
  'reloads: success, wrong and rotated password file, 403, 503, per-node exception, waiting for the process',
  async (t) => {
    const layout = keystoreLayout();
    const es = await startFakeEs({
      cert: certs.cert,
      key: certs.key,
      username: 'elastic',
      password: 'right-pw',
      keystorePath: layout.keystorePath,
    });
    t.teardown(() => es.close());
    const passwordFile = path.join(layout.root, 'es-password');
    fs.writeFileSync(passwordFile, 'right-pw\n');
    writeSecret(layout.sourceDir, { 's3.client.default.secret_key': 'v0' });
    const { manager, clock, process } = await startReloading(t, layout, {
      USERNAME: 'elastic',
      PASSWORD_FILE: passwordFile,
      CERTIFICATES_PATH: certs.dir,
      ENDPOINT: es.url,
    });
    await statusWhere(manager, (s) => s.state === 'synced', 'the first sync');
    // As the manager does: the process starts once the first sync has ended.
    process.isStarted = true;
    t.equal(reloadRequests(es).length, 0, 'the first sync, before the process started, needs no reload');

    // Success.
    let status = await changeAndReload(manager, layout.sourceDir, 'v1');
    const requests = reloadRequests(es);
    t.equal(requests.length, 1, 'one reload for one change');
    t.equal(
      requests[0].headers.authorization,
      basic('elastic', 'right-pw'),
      'basic auth with the password file, trailing newline dropped',
    );
    t.equal(requests[0].body, '', 'no body for a keystore without password');
    t.equal(requests[0].headers.connection, 'close', 'the connection is not kept alive between reloads minutes apart');
    t.equal(es.reloads.at(-1)?.error, null, 'the fake read the keystore');
    t.equal(status.consecutiveFailures, 0);

    // 401 from a rotated (wrong) password file, then rotated back: re-read at each call, no restart.
    fs.writeFileSync(passwordFile, 'wrong-pw');
    writeSecret(layout.sourceDir, { 's3.client.default.secret_key': 'v2' });
    status = await statusAfterRetries(
      manager,
      clock,
      (s) => s.state === 'failed' && s.consecutiveFailures >= 2,
      'two failed reloads (401)',
    );
    t.match(status.reason, /HTTP 401 .*unable to authenticate user \[elastic\]/);
    t.equal(status.reload.failure, 'unauthorized');
    t.ok(status.nextRetryAt, 'a retry is scheduled');
    t.equal(lastReloadRequest(es).headers.authorization, basic('elastic', 'wrong-pw'), 'the rotated file was read');
    t.match(
      keystoreHealthReasons(status),
      [/^the keystore updater failed: /],
      'a failed reload makes /health degraded',
    );
    fs.writeFileSync(passwordFile, 'right-pw');
    status = await statusAfterRetries(
      manager,
      clock,
      (s) => s.state === 'reloaded',
      'the retry with the rotated-back password',
    );
    t.equal(lastReloadRequest(es).headers.authorization, basic('elastic', 'right-pw'));
    t.equal(status.consecutiveFailures, 0, 'success resets the failure count');

    // 403, then recovery.
    es.setMode('forbidden');
    writeSecret(layout.sourceDir, { 's3.client.default.secret_key': 'v3' });
    status = await statusWhere(manager, (s) => s.state === 'failed' && s.reload.failure === 'forbidden', 'a 403');
    t.match(status.reason, /HTTP 403 .*is unauthorized for user \[elastic\]/);
    es.setMode('ok');
    await statusAfterRetries(manager, clock, (s) => s.state === 'reloaded', 'recovery after the 403');

    // 503 is ES not ready: "waiting", retried with back-off, and changes meanwhile coalesce.
    es.setMode('unavailable');
    const before503 = reloadRequests(es).length;
    writeSecret(layout.sourceDir, { 's3.client.default.secret_key': 'v4' });
    status = await statusAfterRetries(
      manager,
      clock,
      (s) => s.state === 'waiting' && s.reload.failure === 'unavailable' && s.consecutiveFailures >= 2,
      'two 503s',
    );
    t.match(status.reason, /HTTP 503 .*master_not_discovered_exception/);
    t.equal(reloadRequests(es).length - before503, 2, 'one request per try');
    // The next try is held until the test lets it go: these two changes are synced before it.
    t.equal(clock.pending().length, 1, 'one retry is scheduled');
    writeSecret(layout.sourceDir, { 's3.client.default.secret_key': 'v5' });
    writeSecret(layout.sourceDir, { 's3.client.default.secret_key': 'v6' });
    // In the keystore is not enough: the pass asks for its reload after the swap. Wait for the pass to end.
    await waitFor(
      () =>
        readKeystore(layout.keystorePath)!['s3.client.default.secret_key'] === 'v6' &&
        manager.status().syncingSince === null,
      'the later changes in the keystore, their pass ended',
    );
    t.equal(
      reloadRequests(es).length - before503,
      2,
      'changes during the back-off add no request: they join the pending reload',
    );
    es.setMode('ok');
    status = await statusAfterRetries(manager, clock, (s) => s.state === 'reloaded', 'recovery after the 503');
    t.equal(reloadRequests(es).length - before503, 3, 'one reload carried the coalesced changes');

    // A per-node reload_exception under HTTP 200 is a failure.
    es.setMode('reload_exception');
    writeSecret(layout.sourceDir, { 's3.client.default.secret_key': 'v7' });
    status = await statusWhere(
      manager,
      (s) => s.state === 'failed' && s.reload.failure === 'reload_exception',
      'a reload_exception',
    );
    t.match(status.reason, /node es-0: illegal_state_exception: simulated failure/);
    es.setMode('ok');
    await statusAfterRetries(manager, clock, (s) => s.state === 'reloaded', 'recovery after the reload_exception');

    // While the process is stopped, the reload waits; it happens once the process is started again.
    process.isStarted = false;
    const beforeStop = reloadRequests(es).length;
    writeSecret(layout.sourceDir, { 's3.client.default.secret_key': 'v8' });
    status = await statusWhere(manager, (s) => s.state === 'waiting' && s.reload.pending, 'waiting for the process');
    t.match(status.reason, /waiting for the process to start/);
    for (let look = 1; look <= 3; look++) {
      await waitFor(() => clock.pending().length === 1, `look ${look} for the process to be scheduled`);
      t.equal(clock.fire(), 1, `the updater looks for the process again (${look})`);
    }
    await waitFor(() => clock.pending().length === 1, 'the next look for the process to be scheduled');
    t.equal(reloadRequests(es).length, beforeStop, 'no reload is sent while the process is stopped');
    process.isStarted = true;
    await statusAfterRetries(manager, clock, (s) => s.state === 'reloaded', 'the reload after the start');
    t.equal(reloadRequests(es).length, beforeStop + 1, 'exactly one reload once started');
  },
);

t.test('connection refused until ES listens; a wrong CA until it is replaced', async (t) => {
  const layout = keystoreLayout();
  const port = await freePort();
  const caFile = path.join(layout.root, 'ca.pem');
  const other = makeCertificates(path.join(layout.root, 'other'), 'other');
  fs.writeFileSync(caFile, other.ca);
  writeSecret(layout.sourceDir, { 'gcs.client.default.credentials_file': '{}' });
  const { manager, clock, process } = await startReloading(t, layout, {
    USERNAME: 'elastic',
    PASSWORD: 'pw',
    CERTIFICATES_PATH: caFile,
    ENDPOINT: `https://127.0.0.1:${port}`,
  });
  await statusWhere(manager, (s) => s.state === 'synced', 'the first sync');
  process.isStarted = true;

  writeSecret(layout.sourceDir, { 'gcs.client.default.credentials_file': '{"v":1}' });
  let status = await statusAfterRetries(
    manager,
    clock,
    (s) => s.reload.failure === 'refused' && s.consecutiveFailures >= 2,
    'two refused connections',
  );
  t.equal(status.state, 'waiting', 'ES not listening yet is waiting, not failed');
  t.match(status.reason, new RegExp(`connection refused by https://127\\.0\\.0\\.1:${port}`));
  t.same(keystoreHealthReasons(status), [], '/health stays ok');

  const es = await startFakeEs({ cert: certs.cert, key: certs.key, username: 'elastic', password: 'pw', port });
  t.teardown(() => es.close());
  status = await statusAfterRetries(
    manager,
    clock,
    (s) => s.reload.failure === 'tls',
    'a TLS failure against a foreign CA',
  );
  t.equal(status.state, 'failed');
  t.match(status.reason, /TLS error .*check CERTIFICATES_PATH/);
  t.equal(reloadRequests(es).length, 0, 'no request went out over an untrusted connection');

  fs.writeFileSync(caFile, certs.ca);
  await statusAfterRetries(
    manager,
    clock,
    (s) => s.state === 'reloaded',
    'a reload once the CA file holds the right CA',
  );
  t.equal(reloadRequests(es).length, 1);
  t.equal(reloadRequests(es)[0].headers.authorization, basic('elastic', 'pw'));
});

t.test('a password-protected keystore: created protected, password on stdin and in the reload body', async (t) => {
  const layout = keystoreLayout();
  const es = await startFakeEs({
    cert: certs.cert,
    key: certs.key,
    username: 'elastic',
    password: 'pw',
    keystorePath: layout.keystorePath,
  });
  t.teardown(() => es.close());
  const keystorePasswordFile = path.join(layout.root, 'keystore-password');
  fs.writeFileSync(keystorePasswordFile, 'ks-secret\n');
  writeSecret(layout.sourceDir, { 'azure.client.default.key': 'k1' });
  const { manager, process } = await startReloading(t, layout, {
    KEYSTORE_PASSWORD_FILE: keystorePasswordFile,
    USERNAME: 'elastic',
    PASSWORD: 'pw',
    CERTIFICATES_PATH: certs.caFile,
    ENDPOINT: es.url,
  });
  await statusWhere(manager, (s) => s.state === 'synced', 'the first sync');
  t.same(
    cliCalls(layout.cliLog).map((c) => c.argv.slice(0, 2)),
    [
      ['create', '-p'],
      ['add-file', '-f'],
    ],
    'created with a password, then one add-file',
  );
  t.throws(() => readKeystore(layout.keystorePath, ''), 'the keystore does not open without the password');
  t.equal(readKeystore(layout.keystorePath, 'ks-secret')!['azure.client.default.key'], 'k1');

  process.isStarted = true;
  await changeAndReload(manager, layout.sourceDir, 'k2');
  const request = lastReloadRequest(es);
  t.same(
    JSON.parse(request.body),
    { secure_settings_password: 'ks-secret' },
    'the reload body carries the keystore password',
  );
  t.same(
    es.reloads.at(-1)?.settingNames,
    ['keystore.seed', 's3.client.default.secret_key'],
    'ES decrypted the new keystore with it',
  );
  t.equal(readKeystore(layout.keystorePath, 'ks-secret')!['s3.client.default.secret_key'], 'k2');
});
