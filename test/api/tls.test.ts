// HTTPS with a dedicated client CA: only clients with a certificate it signed
// get an answer, GET /health stays open for probes, and rotated files are
// picked up by new connections without a restart.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { FAKE_ES, startManager, stopManager, tempDir, waitFor, within } from '../helpers/manager.ts';
import { createTestCa } from '../helpers/openssl.ts';
import { issue, mutualTlsFiles, tlsRequest } from '../helpers/tls-client.ts';

function tlsSetup() {
  const dir = tempDir();
  const tlsDir = path.join(dir, 'tls');
  const { serverCa, clientCa, args: tlsArgs } = mutualTlsFiles(dir, tlsDir);
  const foreignCa = createTestCa(path.join(dir, 'foreign-ca'));
  const args = ['--cmd', FAKE_ES, '--state-file', path.join(dir, 'state.json'), '--http-host', '127.0.0.1', ...tlsArgs];
  return {
    dir,
    tlsDir,
    serverCa,
    clientCa,
    foreignCa,
    args,
    operator: issue(clientCa, path.join(dir, 'issued'), 'operator'),
  };
}

t.test('mutual TLS: refused without the right client certificate, /health stays open', async (t) => {
  const setup = tlsSetup();
  const manager = await startManager({ args: setup.args });
  t.teardown(() => stopManager(manager));
  const trust = setup.serverCa.certPem;
  const port = manager.port;

  const health = await tlsRequest(port, '/health', { trust });
  t.equal(health.status, 200, 'GET /health needs no client certificate');

  const anonymous = await tlsRequest(port, '/es/status', { trust });
  t.equal(anonymous.status, 401, 'no certificate: 401');
  t.match(anonymous.json, { error: { type: 'security_exception' }, status: 401 });
  t.equal((await tlsRequest(port, '/es/stop', { trust, method: 'POST' })).status, 401, 'not even a stop');
  t.equal((await tlsRequest(port, '/metrics', { trust })).status, 401, 'nor metrics');

  const foreign = await tlsRequest(port, '/es/status', {
    trust,
    client: issue(setup.foreignCa, path.join(setup.dir, 'issued'), 'intruder'),
  });
  t.equal(foreign.status, 403, 'a certificate from another CA: 403');
  t.match(foreign.json.error.reason, /client certificate refused/);

  const expired = await tlsRequest(port, '/es/status', {
    trust,
    client: issue(setup.clientCa, path.join(setup.dir, 'issued'), 'old-operator', { days: -1 }),
  });
  t.equal(expired.status, 403, 'an expired certificate from the right CA: 403');
  t.match(expired.json.error.reason, /CERT_HAS_EXPIRED/);

  const allowed = await tlsRequest(port, '/es/status', { trust, client: setup.operator });
  t.equal(allowed.status, 200, 'the right certificate: served');
  t.equal(allowed.json.state, 'started');
  const stopped = await tlsRequest(port, '/es/stop', { trust, client: setup.operator, method: 'POST' });
  t.equal(stopped.status, 200);
  t.equal(stopped.json.state, 'stopped', 'and the operator can stop Elasticsearch');
});

t.test(
  'issue 21: plain HTTP to the HTTPS port gets a 400 that says the port speaks HTTPS, and the server stays well',
  async (t) => {
    const setup = tlsSetup();
    const manager = await startManager({ args: setup.args });
    t.teardown(() => stopManager(manager));
    for (const route of ['/health', '/es/status']) {
      const answer = await manager.request('GET', route); // the harness speaks plain http://
      t.equal(answer.status, 400, `${route}: 400, not a closed connection`);
      t.match(answer.json, {
        error: { type: 'parse_exception', reason: 'this port speaks HTTPS: use https://' },
        status: 400,
      });
    }
    t.equal(
      (await tlsRequest(manager.port, '/health', { trust: setup.serverCa.certPem })).status,
      200,
      'HTTPS clients are still served',
    );
  },
);

t.test(
  'with --tls-client-ca and no --http-host the API binds 0.0.0.0; without client CA, an exposed bind is warned about',
  async (t) => {
    const setup = tlsSetup();
    const args = setup.args.filter((word, i, all) => word !== '--http-host' && all[i - 1] !== '--http-host');
    const mtls = await startManager({ args });
    t.teardown(() => stopManager(mtls));
    const listening = mtls.logs.find((r) => r['event.action'] === 'api-listening');
    t.equal(listening?.['server.address'], '0.0.0.0');
    t.notOk(
      mtls.logs.some((r) => r['event.action'] === 'api-exposed'),
      'no warning: clients are authenticated',
    );

    const open = await startManager({
      args: ['--cmd', FAKE_ES, '--state-file', path.join(tempDir(), 's.json'), '--http-host', '0.0.0.0'],
    });
    t.teardown(() => stopManager(open));
    const warning = open.logs.find((r) => r['event.action'] === 'api-exposed');
    t.equal(warning?.['log.level'], 'warn', 'an explicit exposed bind without client certificates is warned about');

    const local = await startManager({ args: ['--cmd', FAKE_ES, '--state-file', path.join(tempDir(), 's.json')] });
    t.teardown(() => stopManager(local));
    t.equal(
      local.logs.find((r) => r['event.action'] === 'api-listening')?.['server.address'],
      '127.0.0.1',
      'plain HTTP binds loopback by default',
    );
    t.notOk(local.logs.some((r) => r['event.action'] === 'api-exposed'));
  },
);

t.test('rotating the server certificate and the client CA on disk: new connections see them, no restart', async (t) => {
  const setup = tlsSetup();
  const manager = await startManager({ args: setup.args });
  t.teardown(() => stopManager(manager));
  const port = manager.port;
  const before = await tlsRequest(port, '/es/status', { trust: setup.serverCa.certPem, client: setup.operator });
  t.equal(before.status, 200);

  // Rotate, as a Secret update would: new server CA and certificate, new client CA.
  const newServerCa = createTestCa(path.join(setup.dir, 'server-ca-2'));
  const newClientCa = createTestCa(path.join(setup.dir, 'client-ca-2'));
  const newServer = issue(newServerCa, path.join(setup.dir, 'issued'), 'localhost');
  const newOperator = issue(newClientCa, path.join(setup.dir, 'issued'), 'operator-2');
  for (const [name, pem] of [
    ['tls.key', newServer.keyPem],
    ['tls.crt', newServer.certPem],
    ['client-ca.crt', newClientCa.certPem],
  ]) {
    fs.writeFileSync(path.join(setup.tlsDir, `${name}.tmp`), pem);
    fs.renameSync(path.join(setup.tlsDir, `${name}.tmp`), path.join(setup.tlsDir, name));
  }
  const after = await waitFor(
    () => tlsRequest(port, '/es/status', { trust: newServerCa.certPem, client: newOperator }).catch(() => undefined),
    'the new server certificate to be served',
  );
  t.equal(after.status, 200, 'the new server certificate is served and the new client CA trusted');
  t.not(after.peerFingerprint, before.peerFingerprint);
  const oldClient = await tlsRequest(port, '/es/status', { trust: newServerCa.certPem, client: setup.operator });
  t.equal(oldClient.status, 403, 'a certificate of the retired client CA is refused');
  t.equal(after.json.pid, before.json.pid, 'the same Elasticsearch, the same manager: no restart');
});

t.test('SIGHUP re-reads the TLS files; a broken set keeps the previous one', async (t) => {
  const setup = tlsSetup();
  const manager = await startManager({ args: setup.args });
  t.teardown(() => stopManager(manager));
  const reloads = () => manager.logs.filter((r) => r['event.action'] === 'tls-reload');
  const seen = reloads().length;
  manager.child.kill('SIGHUP');
  await waitFor(() => reloads().length > seen, 'a reload after SIGHUP');
  t.equal(reloads().at(-1)?.['log.level'], 'info');

  fs.writeFileSync(path.join(setup.tlsDir, 'tls.crt'), 'not a certificate\n');
  await waitFor(() => reloads().some((r) => r['log.level'] === 'error'), 'the broken file to be reported');
  const still = await tlsRequest(manager.port, '/es/status', { trust: setup.serverCa.certPem, client: setup.operator });
  t.equal(still.status, 200, 'the previous certificate is still served');
});

t.test(
  'issue-12 item 11: a client-CA file of garbage rotated in is refused; the previous CA keeps serving valid clients',
  async (t) => {
    const setup = tlsSetup();
    const manager = await startManager({ args: setup.args });
    t.teardown(() => stopManager(manager));
    const trust = setup.serverCa.certPem;
    t.equal((await tlsRequest(manager.port, '/es/status', { trust, client: setup.operator })).status, 200);
    const seen = manager.logs.length;
    for (const garbage of ['not a certificate\n', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n']) {
      fs.writeFileSync(path.join(setup.tlsDir, 'client-ca.crt'), garbage);
      manager.child.kill('SIGHUP');
      const refused = await manager.waitForLog(
        (r) =>
          manager.logs.indexOf(r) >= seen &&
          r['event.action'] === 'tls-reload' &&
          r['log.level'] === 'error' &&
          r.message.includes(garbage.startsWith('-') ? 'cannot be read' : 'no PEM certificate'),
        'the garbage CA to be refused',
      );
      t.match(
        refused.message,
        `--tls-client-ca ${path.join(setup.tlsDir, 'client-ca.crt')}`,
        'the error names the flag and the file',
      );
      const still = await tlsRequest(manager.port, '/es/status', { trust, client: setup.operator });
      t.equal(still.status, 200, 'a valid client is still served: the previous client CA stays in force');
    }
    t.notOk(
      manager.logs.slice(seen).some((r) => r['event.action'] === 'tls-reload' && r['log.level'] === 'info'),
      'never reported as reloaded',
    );
  },
);

t.test(
  'issue-12 item 11, issue-13: unusable TLS files at start-up exit 78 naming the TLS flag and the file, not the listen address',
  async (t) => {
    const setup = tlsSetup();
    const garbage = path.join(setup.dir, 'garbage.pem');
    fs.writeFileSync(garbage, 'not PEM at all\n');
    const otherKey = issue(setup.clientCa, path.join(setup.dir, 'issued'), 'someone-else').keyPem;
    const otherKeyFile = path.join(setup.dir, 'other.key');
    fs.writeFileSync(otherKeyFile, otherKey);
    const replace = (flag: string, file: string) =>
      setup.args.map((word, i, all) => (all[i - 1] === flag ? file : word));
    const cases: [string, string[], RegExp][] = [
      [
        'a garbage --tls-client-ca',
        replace('--tls-client-ca', garbage),
        new RegExp(`--tls-client-ca ${garbage}: no PEM certificate`),
      ],
      ['a garbage --tls-cert', replace('--tls-cert', garbage), new RegExp(`--tls-cert ${garbage}: no PEM certificate`)],
      [
        'a garbage --tls-key',
        replace('--tls-key', garbage),
        new RegExp(`--tls-key ${garbage}: not a usable private key`),
      ],
      [
        'a --tls-key of another certificate',
        replace('--tls-key', otherKeyFile),
        new RegExp(`--tls-key ${otherKeyFile} does not belong to the certificate`),
      ],
      [
        'a missing --tls-client-ca',
        replace('--tls-client-ca', path.join(setup.dir, 'absent.crt')),
        /--tls-client-ca .*absent\.crt: ENOENT/,
      ],
    ];
    for (const [what, args, message] of cases) {
      const manager = await startManager({ args, waitForApi: false });
      t.teardown(() => stopManager(manager));
      const isListening = () => manager.logs.some((r) => r['event.action'] === 'api-listening');
      await waitFor(() => isListening() || manager.child.exitCode !== null, `${what}: the manager to exit or listen`);
      if (isListening()) {
        t.fail(`${what}: the API listens instead of refusing to start`);
        continue;
      }
      const exit = await within(manager.exited, 'the manager to exit');
      const said = [...manager.logs.map((r) => r.message), ...manager.output].join('\n');
      t.equal(exit.code, 78, `${what}: exit 78`);
      t.match(said, message, `${what}: the message names the flag and the file`);
      t.notMatch(said, /--http-host|--http-port/, `${what}: the listen address is not blamed`);
    }
  },
);

t.test('the open /health shows no file path; with a client certificate it shows them all', async (t) => {
  const setup = tlsSetup();
  const sourceDir = path.join(setup.dir, 'secrets-not-mounted');
  const manager = await startManager({
    args: setup.args,
    env: {
      KEYSTORE_UPDATER: 'true',
      SOURCE_DIR: sourceDir,
      KEYSTORE_PATH: path.join(setup.dir, 'config', 'elasticsearch.keystore'),
    },
  });
  t.teardown(() => stopManager(manager));
  const trust = setup.serverCa.certPem;
  const open = await waitFor(async () => {
    const health = await tlsRequest(manager.port, '/health', { trust });
    return health.json.keystore?.state === 'failed' ? health : undefined;
  }, 'the keystore updater to fail on the missing SOURCE_DIR');
  t.equal(open.status, 200);
  t.notMatch(JSON.stringify(open.json), setup.dir, 'no path of this test in the open answer');
  t.notMatch(JSON.stringify(open.json), /"\/|\s\/\w/, 'no absolute path at all');
  t.match(open.json, { status: 'degraded', keystore: { sourceDir: '<path>', keystorePath: '<path>' } });
  t.match(open.json.reasons.join('\n'), /the keystore updater failed/);
  const operator = await tlsRequest(manager.port, '/health', { trust, client: setup.operator });
  t.match(operator.json, { keystore: { sourceDir } }, 'an authenticated client sees the paths');
  t.match(JSON.stringify(operator.json), setup.dir);
});
