// Readiness and the mounted configuration in the built executable: what an
// HTTPS Elasticsearch fake receives under a flood of probes, a probe over
// TCP, a conditional start racing a Secret swap, `ctl --config`, and
// `config-checksum` against sha256sum in a shell.

import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startFakeEs } from '../fixtures/keystore/fake-es.mjs';
import { makeCertificates } from '../helpers/keystore.ts';
import { EXECUTABLE, FAKE_ES, startManager, stopManager, tempDir, waitFor } from '../helpers/manager.ts';
import { createSecretVolume } from '../helpers/secret-volume.ts';

const certs = makeCertificates(path.join(tempDir('pm-ready-certs-'), 'certs'));
const PROBES_PER_SECOND = 50;
const FLOOD_MS = 3_000;

t.test('http: 50 probes a second cost ES about one request a second, with the CA and the credentials', async (t) => {
  const es = await startFakeEs({ cert: certs.cert, key: certs.key, username: 'elastic', password: 'right-pw' });
  t.teardown(() => es.close());
  const dir = tempDir();
  const passwordFile = path.join(dir, 'password');
  fs.writeFileSync(passwordFile, 'right-pw\n');
  const manager = await startManager({
    args: ['--cmd', FAKE_ES, '--state-file', path.join(dir, 'state.json')],
    env: {
      KEYSTORE_UPDATER: 'false',
      USERNAME: 'elastic',
      PASSWORD_FILE: passwordFile,
      CERTIFICATES_PATH: certs.dir,
      ENDPOINT: es.url,
    },
  });
  t.teardown(() => stopManager(manager));
  await waitFor(async () => (await manager.request('GET', '/es/ready')).status === 200, 'ES to be ready');
  const root = () => es.requests.filter((r: { method: string; path: string }) => r.method === 'GET' && r.path === '/');
  t.equal(root()[0].headers.authorization, `Basic ${Buffer.from('elastic:right-pw').toString('base64')}`);

  const before = root().length;
  const started = performance.now();
  const answers: Promise<number>[] = [];
  while (performance.now() - started < FLOOD_MS) {
    answers.push(manager.request('GET', '/es/ready').then((a) => a.status));
    await new Promise((resolve) => setTimeout(resolve, 1000 / PROBES_PER_SECOND));
  }
  const statuses = await Promise.all(answers);
  const seconds = (performance.now() - started) / 1000;
  const checks = root().length - before;
  t.ok(statuses.length >= PROBES_PER_SECOND, `${statuses.length} probes sent`);
  t.ok(
    statuses.every((s) => s === 200),
    'every probe answered 200',
  );
  t.ok(
    checks >= 1 && checks <= Math.ceil(seconds) + 1,
    `${checks} requests to ES for ${statuses.length} probes in ${seconds.toFixed(1)} s`,
  );

  es.setMode('unavailable');
  const notAnswering = await waitFor(async () => {
    const answer = await manager.request('GET', '/es/ready');
    return answer.status === 503 ? answer : undefined;
  }, 'ES unavailable to show');
  t.match(notAnswering.json, { ready: false, reason: 'not_answering', message: /HTTP 503/ });
  t.notMatch(notAnswering.text, /right-pw|certs|password/, 'no credential, no path');
  t.match((await manager.request('GET', '/metrics')).text, /\npm_ready\{name="es"\} 0\n/);

  es.setMode('ok');
  await manager.request('POST', '/es/stop');
  t.match((await manager.request('GET', '/es/ready')).json, { ready: false, reason: 'not_started', state: 'stopped' });
});

t.test('tcp:PORT: ready while something listens there', async (t) => {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const dir = tempDir();
  const manager = await startManager({
    args: ['--cmd', FAKE_ES, '--state-file', path.join(dir, 'state.json'), '--ready-check', `tcp:${port}`],
    env: { KEYSTORE_UPDATER: 'false' },
  });
  t.teardown(() => stopManager(manager));
  await waitFor(async () => (await manager.request('GET', '/es/ready')).status === 200, 'ready through the port');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const answer = await waitFor(async () => {
    const a = await manager.request('GET', '/es/ready');
    return a.status === 503 ? a : undefined;
  }, 'not ready once the port closes');
  t.match(answer.json, { reason: 'not_answering', message: new RegExp(`nothing listens on port ${port}`) });
});

t.test(
  'a conditional start racing a Secret swap: the checksum is computed again, not taken from the watcher',
  async (t) => {
    const dir = tempDir();
    const volume = createSecretVolume(path.join(dir, 'config'));
    volume.update({ 'elasticsearch.yml': 'node.name: a\n' });
    const checksum = () => execFileSync(EXECUTABLE, ['config-checksum', volume.dir], { encoding: 'utf8' }).trim();
    const oldSha = checksum();
    const stateFile = path.join(dir, 'state.json');
    const manager = await startManager({
      args: ['--cmd', FAKE_ES, '--state-file', stateFile, '--ready-check', 'none', '--config-path', volume.dir],
      env: { KEYSTORE_UPDATER: 'false' },
    });
    t.teardown(() => stopManager(manager));
    await waitFor(async () => (await manager.status()).state === 'started', 'the process to start');
    t.same((await manager.status()).config.sha256, oldSha);
    await manager.request('POST', '/es/stop');

    volume.update({ 'elasticsearch.yml': 'node.name: b\n' });
    const newSha = checksum();
    t.not(newSha, oldSha);
    // At once, before the watcher's debounce can have run.
    const stale = await manager.request('POST', `/es/start?config=${oldSha}`);
    t.equal(stale.status, 409);
    t.match(stale.json, {
      error: { type: 'config_mismatch_exception', reason: `the mounted configuration is ${newSha}, not ${oldSha}` },
    });
    t.equal((await manager.status()).state, 'stopped', 'nothing started');

    const ctl = (...words: string[]) =>
      spawnSync(EXECUTABLE, ['ctl', '--state-file', stateFile, ...words], { encoding: 'utf8' });
    const refused = ctl('start', '--config', oldSha);
    t.equal(refused.status, 1);
    t.match(refused.stderr, /start refused \(409\): the mounted configuration is/);
    const accepted = ctl('start', '--config', newSha);
    t.equal(accepted.status, 0, accepted.stderr);
    t.match(accepted.stdout, /^es started, pid \d+/);
    t.equal(ctl('restart', '--config', oldSha).status, 1);
    t.match(ctl('status', '--config', newSha).stderr, /--config goes with start or restart/);
  },
);

t.test('config-checksum agrees with sha256sum in a shell; exit 65 over the limits, 64 without paths', async (t) => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'conf/sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'conf/elasticsearch.yml'), 'cluster.name: x\n');
  fs.writeFileSync(path.join(dir, 'conf/sub/b.txt'), 'b');
  fs.writeFileSync(path.join(dir, 'conf/a-b'), 'ab');
  fs.writeFileSync(path.join(dir, 'jvm.options'), '-Xms1g\n');
  // The contract's algorithm in a shell: byte order (LC_ALL=C), relative paths, `.` for a file.
  const script = `set -e
    cd "$1/conf"; find . -type f | sed 's|^\\./||' | LC_ALL=C sort | while read -r f; do printf '%s %s\\n' "$f" "$(sha256sum "$f" | cut -d' ' -f1)"; done > "$1/lines"
    printf '. %s\\n' "$(sha256sum "$1/jvm.options" | cut -d' ' -f1)" >> "$1/lines"
    sha256sum < "$1/lines" | cut -d' ' -f1`;
  const bySh = execFileSync('bash', ['-c', script, 'bash', dir], { encoding: 'utf8' }).trim();
  const byManager = execFileSync(
    EXECUTABLE,
    ['config-checksum', path.join(dir, 'conf'), path.join(dir, 'jvm.options')],
    { encoding: 'utf8' },
  ).trim();
  t.match(byManager, /^[0-9a-f]{64}$/);
  t.equal(byManager, bySh);

  fs.writeFileSync(path.join(dir, 'conf/huge'), Buffer.alloc(1024 * 1024 + 1));
  const tooLarge = spawnSync(EXECUTABLE, ['config-checksum', path.join(dir, 'conf')], { encoding: 'utf8' });
  t.equal(tooLarge.status, 65);
  t.match(tooLarge.stderr, /conf\/huge: larger than 1 MiB/);
  t.equal(spawnSync(EXECUTABLE, ['config-checksum'], { encoding: 'utf8' }).status, 64);
});
