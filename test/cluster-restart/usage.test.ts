// cluster-restart's own command line: bad input is exit 64 with a message that
// names the option, before anything is asked of ES; an ES nobody answers for is 69.

import { spawnSync } from 'node:child_process';
import t from 'tap';
import { EXECUTABLE, freePort } from '../helpers/manager.ts';

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(EXECUTABLE, ['cluster-restart', ...args], { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '', ...env } });

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
  ['an ES that is not a URL', ['--es', 'localhost:9200'], /--es: 'localhost:9200' is not an http:\/\/ or https:\/\/ URL/],
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

t.test('an ES that does not answer: 69, and the endpoint comes from ENDPOINT as for the keystore updater', async (t) => {
  const port = await freePort();
  const result = run([], { ENDPOINT: `http://127.0.0.1:${port}` });
  t.equal(result.status, 69, result.stderr);
  t.match(result.stderr, new RegExp(`Elasticsearch at http://127.0.0.1:${port} cannot be used: .*connection refused`));
});

t.test('an unreadable ES password file: 64 naming it', async (t) => {
  const port = await freePort();
  const result = run(['--es', `http://127.0.0.1:${port}`, '--es-username', 'elastic', '--es-password-file', '/nonexistent/password']);
  t.equal(result.status, 64, result.stderr);
  t.match(result.stderr, /cannot read --es-password-file \/nonexistent\/password/);
});
