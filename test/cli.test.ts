// The command line: usage errors exit 64, bad values 78, each message naming
// the flag or variable at fault; --help and --version; install.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { envNameOf, OPTIONS } from '../src/config/options.ts';
import { KEYSTORE_VARIABLES } from '../src/config/keystore-env.ts';
import { EXECUTABLE, tempDir } from './helpers/manager.ts';

function run(args: string[], env: Record<string, string> = {}, executable = EXECUTABLE) {
  return spawnSync(executable, args, { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 30_000 });
}

const USAGE_CASES: [string, string[], Record<string, string>, RegExp][] = [
  ['unknown flag', ['--cmd', '/bin/true', '--frobnicate', '1'], {}, /unknown option '--frobnicate'/],
  ['missing --cmd', [], {}, /no process to supervise: give --cmd PATH or PM_CMD/],
  ['flag without a value', ['--cmd'], {}, /option --cmd needs a value \(PATH\)/],
  ['stray argument', ['--cmd', '/bin/true', 'extra'], {}, /unexpected argument 'extra'; arguments for the process go after '--'/],
  ['install without a directory', ['install'], {}, /install takes exactly one argument/],
];
for (const [what, args, env, message] of USAGE_CASES) {
  t.test(`${what} is a usage error: exit 64`, async (t) => {
    const result = run(args, env);
    t.equal(result.status, 64);
    t.match(result.stderr, message);
  });
}

const CONFIG_CASES: [string, string[], Record<string, string>, RegExp][] = [
  ['bad duration flag', ['--cmd', '/bin/true', '--stop-timeout', 'soon'], {}, /--stop-timeout: 'soon' is not a duration such as 500ms, 5s, 2m or a number of seconds/],
  ['bad duration variable', ['--cmd', '/bin/true'], { PM_SHUTDOWN_TIMEOUT: '5 minutes' }, /PM_SHUTDOWN_TIMEOUT: '5 minutes' is not a duration/],
  ['port out of range', ['--cmd', '/bin/true', '--http-port', '70000'], {}, /--http-port: '70000' is not a TCP port number from 0 to 65535/],
  ['port not a number', ['--cmd', '/bin/true'], { PM_HTTP_PORT: 'http' }, /PM_HTTP_PORT: 'http' is not a TCP port number/],
  ['bad choice', ['--cmd', '/bin/true', '--stop-scope', 'session'], {}, /--stop-scope: 'session' is not one of process, group/],
  ['reserved name', ['--cmd', '/bin/true', '--name', 'health'], {}, /--name: 'health' must be/],
  ['TLS key without certificate', ['--cmd', '/bin/true', '--tls-key', '/k.pem'], {}, /--tls-key is set but --tls-cert is not/],
  ['bad keystore switch', ['--cmd', '/bin/true'], { KEYSTORE_UPDATER: 'maybe' }, /KEYSTORE_UPDATER: 'maybe' is not one of auto, true, false/],
  ['endpoint without a scheme', ['--cmd', '/bin/true'], { ENDPOINT: 'es-node:9200' }, /ENDPOINT: 'es-node:9200' is not an http:\/\/ or https:\/\/ URL/],
  ['endpoint that is no URL', ['--cmd', '/bin/true'], { ENDPOINT: 'https://[::1:9200' }, /ENDPOINT: 'https:\/\/\[::1:9200' is not an http:\/\/ or https:\/\/ URL/],
  ['bad reload switch', ['--cmd', '/bin/true'], { KEYSTORE_RELOAD_CREDENTIALS: 'yes please' }, /KEYSTORE_RELOAD_CREDENTIALS: 'yes please' is not true or false/],
];
for (const [what, args, env, message] of CONFIG_CASES) {
  t.test(`${what} is a configuration error: exit 78`, async (t) => {
    const result = run(args, env);
    t.equal(result.status, 78);
    t.match(result.stderr, message);
  });
}

t.test('the flag wins over its variable', async (t) => {
  const result = run(['--cmd', '/bin/true', '--stop-timeout', 'bad-flag'], { PM_STOP_TIMEOUT: '5s' });
  t.match(result.stderr, /--stop-timeout: 'bad-flag'/, 'the flag was read, not PM_STOP_TIMEOUT');
});

t.test('a port already taken is a configuration error that names the flags', async (t) => {
  const net = await import('node:net');
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as { port: number }).port;
  t.teardown(() => server.close());
  const result = run(['--cmd', '/bin/sleep', '--http-port', String(port), '--state-file', path.join(tempDir(), 's.json'), '--', '1']);
  t.equal(result.status, 78);
  t.match(result.stderr, new RegExp(`--http-port ${port}: cannot listen: .*EADDRINUSE`));
});

t.test('--help lists exactly the options and variables that exist', async (t) => {
  const result = run(['--help']);
  t.equal(result.status, 0);
  const listedFlags = [...result.stdout.matchAll(/^ {2}(--[a-z-]+) /gm)].map((m) => m[1]).sort();
  t.same(listedFlags, Object.values(OPTIONS).map((o) => o.flag).sort(), 'every flag, and no other');
  for (const option of Object.values(OPTIONS)) t.match(result.stdout, `env ${envNameOf(option)}`);
  for (const variable of Object.values(KEYSTORE_VARIABLES)) t.match(result.stdout, variable.name);
  t.equal(run(['-h']).stdout, result.stdout, '-h is --help');
});

t.test('--version', async (t) => {
  const result = run(['--version']);
  t.equal(result.status, 0);
  const version = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  t.equal(result.stdout, `process-manager ${version}\n`);
  // The baked V8 flags change V8's flag hash: a blob made without them would carry a code cache V8 throws away.
  t.equal(result.stderr, '', 'no warning, the code cache among them, is printed');
});

t.test('install copies the executable into a new directory with mode 0755, and the copy runs', async (t) => {
  const dir = path.join(tempDir(), 'shared', 'pm');
  const result = run(['install', dir]);
  t.equal(result.status, 0, result.stderr);
  const copy = path.join(dir, 'process-manager');
  t.equal(fs.statSync(copy).mode & 0o777, 0o755);
  t.equal(fs.statSync(copy).size, fs.statSync(EXECUTABLE).size);
  t.same(fs.readdirSync(dir), ['process-manager'], 'no temporary file left behind');
  const ran = run(['--cmd', '/bin/sh', '--http-port', '0', '--', '-c', 'exit 7'], {}, copy);
  t.equal(ran.status, 7, 'the copy supervises a process and exits with its status');
  t.ok(fs.existsSync(path.join(dir, 'es.state.json')), 'its state file defaults to its own directory');
});

t.test('install into a path that cannot be a directory: exit 78', async (t) => {
  const file = path.join(tempDir(), 'a-file');
  fs.writeFileSync(file, '');
  const result = run(['install', path.join(file, 'sub')]);
  t.equal(result.status, 78);
  t.match(result.stderr, /install .*a-file\/sub: ENOTDIR/);
});
