// Between the API's listen() and the start of the keystore updater and the
// cert initializer (issue 20), /health shows them as not started yet, not as
// absent: the updater `syncing` with no pass begun (how long it has been
// awaited counting, so a start that never comes shows as stuck), the cert
// initializer `waiting`, holding starts back. In process, from the sources.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { prepareCertInitializer } from '../../src/certs/prepare.ts';
import type { KeystoreConfig } from '../../src/config/config.ts';
import { StartupError } from '../../src/config/errors.ts';
import { createKeystoreUpdater } from '../../src/keystore/index.ts';
import { KEYSTORE_SYNC_LIMIT_MS, keystoreHealthReasons } from '../../src/keystore/health-reasons.ts';
import { notStartedStatus } from '../../src/keystore/not-started.ts';
import type { Logger } from '../../src/log/logger.ts';
import { tempDir } from '../helpers/manager.ts';

const lines: string[] = [];
const log = {
  debug() {},
  info: (message: string) => lines.push(message),
  warn: (message: string) => lines.push(message),
  error: (message: string) => lines.push(message),
} as unknown as Logger;

function keystoreConfig(sourceDir: string, reload = false): KeystoreConfig {
  return {
    mode: 'true',
    sourceDir,
    binary: '/nonexistent/elasticsearch-keystore',
    keystorePath: path.join(sourceDir, '..', 'elasticsearch.keystore'),
    reload,
    certificatesPath: '/nonexistent/certs',
    endpoint: 'https://127.0.0.1:9200',
  };
}

t.test('the keystore updater before start(): syncing, nothing done, nothing logged', async (t) => {
  const dir = tempDir('pm-not-started-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const source = path.join(dir, 'secret');
  fs.mkdirSync(source);
  lines.length = 0;
  const before = performance.now();
  const updater = await createKeystoreUpdater(keystoreConfig(source, true), { log, isProcessStarted: () => false });
  if (!updater) throw new Error('the updater is on (KEYSTORE_UPDATER=true)');
  const status = updater.status();
  t.equal(status.state, 'syncing', 'not yet synced');
  t.equal(status.reason, 'reading SOURCE_DIR', 'the reason the updater gives before its first pass');
  t.equal(status.syncingSince, null, 'no pass has begun');
  t.ok(
    typeof status.syncingForMs === 'number' && status.syncingForMs <= Math.ceil(performance.now() - before),
    `awaited for ${status.syncingForMs} ms`,
  );
  t.equal(status.reload.enabled, true, 'the reload as configured');
  t.same(status.counters, { scans: 0, syncs: 0, syncFailures: 0, cliCalls: 0, reloads: 0, reloadFailures: 0 });
  t.same(updater.metrics(), { syncs: 0, syncFailures: 0, reloads: 0, reloadFailures: 0, lastSyncAt: null });
  t.same(keystoreHealthReasons(status), [], 'no health reason');
  t.same(lines, [], 'nothing logged: the updater has not started');
  t.same(fs.readdirSync(dir), ['secret'], 'nothing written beside the keystore');
  await updater.close();
});

t.test('a start that never comes reads as stuck after the sync limit', async (t) => {
  const status = notStartedStatus(keystoreConfig('/s'), KEYSTORE_SYNC_LIMIT_MS + 1_000);
  t.match(keystoreHealthReasons(status), [/^a keystore sync has run for 301 s \(stuck\?\)$/]);
});

t.test('an updater that cannot start: failed in the status, and the boot fails with 70', async (t) => {
  lines.length = 0;
  // No keystore path: the updater's parts throw where they use it (a bug's stand-in).
  const config = { ...keystoreConfig('/nonexistent/s'), keystorePath: undefined } as unknown as KeystoreConfig;
  const updater = await createKeystoreUpdater(config, { log, isProcessStarted: () => false });
  if (!updater) throw new Error('the updater is on (KEYSTORE_UPDATER=true)');
  updater.start();
  const failure = await updater.firstSync().then(
    () => undefined,
    (error: unknown) => error,
  );
  t.ok(failure instanceof StartupError && failure.exitCode === 70, 'firstSync() rejects with a StartupError, 70');
  t.equal(updater.status().state, 'failed');
  t.match(updater.status().reason, /^the keystore updater could not start: /);
  t.match(keystoreHealthReasons(updater.status()), [/^the keystore updater failed: /]);
  t.match(lines, [/^the keystore updater could not start: /], 'logged, with the stack');
  await updater.close();
});

t.test('the cert initializer before start(): waiting, holding starts, nothing done', async (t) => {
  const dir = tempDir('pm-not-started-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = {
    port: 0,
    privateKeyPath: path.join(dir, 'node.key'),
    certPath: path.join(dir, 'node.crt'),
    csrPath: path.join(dir, 'csr.pem'),
  };
  lines.length = 0;
  const certs = prepareCertInitializer(config, { log });
  const status = certs.status();
  t.equal(status.state, 'waiting');
  t.equal(status.reason, 'looking for an existing key and certificate');
  t.equal(status.certPath, config.certPath);
  t.ok(status.forMs >= 0 && typeof status.since === 'string');
  t.equal(certs.blockedReason(), 'waiting for the signed certificate (--cert-path)', 'starts are held');
  let isSettled = false;
  void certs.ready.then(
    () => (isSettled = true),
    () => (isSettled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(isSettled, 'ready is pending');
  t.same(fs.readdirSync(dir), [], 'no key, no CSR');
  t.same(lines, [], 'nothing logged');
  await certs.close();
  t.same(fs.readdirSync(dir), [], 'closed before start(): still nothing');
});
