// cluster-restart's own command line: bad input is exit 64 with a message that
// names the option, before anything is asked of ES; an ES nobody answers for is 69.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EXECUTABLE, freePort, ROOT, tempDir, waitFor } from '../helpers/manager.ts';

const FIXTURES = path.join(ROOT, 'test/fixtures/es-cluster');

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(EXECUTABLE, ['cluster-restart', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? '', ...env },
  });

const cases: [string, string[], RegExp][] = [
  ['an unknown option', ['--bogus'], /unknown option '--bogus'/],
  ['a stray argument', ['now'], /unknown argument 'now'/],
  ['a mode that does not exist', ['--mode', 'sideways'], /--mode: 'sideways' is not one of rolling, full/],
  ['a wanted health that does not exist', ['--wait-for', 'red'], /--wait-for: 'red' is not one of green, yellow/],
  ['a time without a zone', ['--since', '2026-12-06T01:00:00'], /--since: '2026-12-06T01:00:00' is not a time such as/],
  ['a bad duration', ['--timeout', 'soon'], /--timeout: 'soon' is not a duration/],
  ['a zero timeout', ['--timeout', '0s'], /--timeout: must be longer than 0/],
  ['a client certificate without its key', ['--client-cert', '/x.crt'], /--client-cert and --client-key go together/],
  ['a --manager that is not NODE=URL', ['--manager', 'es-0'], /--manager: 'es-0' is not NODE=URL/],
  ['a configuration that is not a sha256', ['--config', 'abc'], /--config: 'abc' is not a sha256/],
  [
    'an ES that is not a URL',
    ['--es', 'localhost:9200'],
    /--es: 'localhost:9200' is not an http:\/\/ or https:\/\/ URL/,
  ],
  ['an option without its value', ['--es'], /option --es needs a value/],
];
for (const [what, args, message] of cases) {
  t.test(`${what}: 64`, async (t) => {
    const result = run(args);
    t.equal(result.status, 64, result.stderr);
    t.match(result.stderr, message);
    t.equal(result.stdout, '');
  });
}

t.test(
  'an ES that does not answer: 69, and the endpoint comes from ENDPOINT as for the keystore updater',
  async (t) => {
    const port = await freePort();
    const result = run([], { ENDPOINT: `http://127.0.0.1:${port}` });
    t.equal(result.status, 69, result.stderr);
    t.match(
      result.stderr,
      new RegExp(`Elasticsearch at http://127.0.0.1:${port} cannot be used: .*connection refused`),
    );
  },
);

t.test('an unreadable ES password file: 64 naming it', async (t) => {
  const port = await freePort();
  const result = run([
    '--es',
    `http://127.0.0.1:${port}`,
    '--es-username',
    'elastic',
    '--es-password-file',
    '/nonexistent/password',
  ]);
  t.equal(result.status, 64, result.stderr);
  t.match(result.stderr, /cannot read --es-password-file \/nonexistent\/password/);
});

t.test(
  "ES credentials as the keystore updater reads them: wrong ones are 69 with ES's reason; right ones get past ES",
  async (t) => {
    const dir = tempDir('pm-cluster-auth-');
    const env = {
      ...process.env,
      FAKE_CLUSTER_NODES: 'es-0',
      FAKE_CLUSTER_USER: 'restarter',
      FAKE_CLUSTER_PASSWORD: 's3cret',
    };
    const server = spawn(process.execPath, [path.join(FIXTURES, 'cluster.mjs')], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env,
    });
    t.teardown(() => server.kill('SIGKILL'));
    const ports = await new Promise<{ http: number; transport: number }>((resolve) =>
      server.stdout!.setEncoding('utf8').once('data', (line: string) => resolve(JSON.parse(line))),
    );
    const node = spawn(path.join(FIXTURES, 'fake-node.mjs'), [], {
      stdio: 'ignore',
      env: {
        ...process.env,
        FAKE_NODE_NAME: 'es-0',
        FAKE_NODE_IP: '127.0.0.9',
        FAKE_CLUSTER_TRANSPORT: String(ports.transport),
        FAKE_NODE_BOOT_MS: '0',
      },
    });
    t.teardown(() => node.kill('SIGKILL'));
    const url = `http://127.0.0.1:${ports.http}`;
    await waitFor(async () => (await (await fetch(`${url}/_fake/state`)).json()).master === 'es-0', 'es-0 to join');
    fs.writeFileSync(path.join(dir, 'password'), 's3cret\n');

    const wrong = run(['--es', url], { USERNAME: 'restarter', PASSWORD: 'nope' });
    t.equal(wrong.status, 69, wrong.stderr);
    t.match(wrong.stderr, /HTTP 401 \(security_exception: unable to authenticate user \[restarter\]/);

    const port = await freePort();
    const right = run(['--es', url, '--manager-port', String(port)], {
      USERNAME: 'restarter',
      PASSWORD_FILE: path.join(dir, 'password'),
    });
    t.equal(right.status, 69, right.stderr);
    t.match(
      right.stderr,
      new RegExp(`manager\\(s\\) not usable, nothing changed: es-0 \\(http://127.0.0.9:${port}\\)`),
      'ES answered: the manager is what is missing',
    );
  },
);
