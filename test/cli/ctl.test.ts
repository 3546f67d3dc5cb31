// `process-manager ctl` against the installed copy run with its defaults:
// it finds the manager's Unix socket by itself, prints one human line or the
// API's JSON, and exits 0 / 1 / 69. The socket is mode 0600; a stale one from
// a manager that died is replaced, and a file that is not a socket is left alone.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import {
  EXECUTABLE,
  isAlive,
  startManager,
  stopManager,
  tempDir,
  waitFor,
  type RunningManager,
} from '../helpers/manager.ts';
import { mutualTlsFiles, tlsRequest } from '../helpers/tls-client.ts';

/** Lays down DIR/process-manager as an init container would; always run through that path (it may become a helper that execs the runtime). */
function install(): { dir: string; pm: string } {
  const dir = path.join(tempDir(), 'pm');
  fs.mkdirSync(dir);
  const installed = spawnSync(EXECUTABLE, ['install', dir], { encoding: 'utf8', timeout: 60_000 });
  if (installed.status !== 0) throw new Error(`install failed: ${installed.stdout}${installed.stderr}`);
  return { dir, pm: path.join(dir, 'process-manager') };
}

function ctl(
  pm: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(pm, ['ctl', ...args], { env: { PATH: process.env.PATH, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const SLEEPER = ['--cmd', '/bin/sh', '--', '-c', 'sleep 100000 & wait'];

async function startInstalled(pm: string, args = SLEEPER, env: Record<string, string> = {}): Promise<RunningManager> {
  const manager = await startManager({ executable: pm, args, env });
  await manager.waitForLog((r) => r['process.state'] === 'started', 'the process to start');
  return manager;
}

t.test('the installed copy with its defaults: ctl status, stop, --json status', async (t) => {
  const { dir, pm } = install();
  const manager = await startInstalled(pm);
  t.teardown(() => stopManager(manager));
  const socket = path.join(dir, 'es.sock');
  t.ok(fs.lstatSync(socket).isSocket(), 'the socket sits beside the default state file');
  t.equal(fs.statSync(socket).mode & 0o777, 0o600, 'mode 0600');
  const pid = (await manager.status()).pid;

  const status = await ctl(pm, ['status']);
  t.equal(status.code, 0, status.stderr);
  t.match(status.stdout, new RegExp(`^es started, pid ${pid}, since \\S+; last exit: none\\n$`), 'one human line');

  const stop = await ctl(pm, ['stop']);
  t.equal(stop.code, 0, stop.stderr);
  t.match(stop.stdout, /^es stopped, since \S+; last exit: signal SIGTERM at \S+\n$/);
  t.notOk(isAlive(pid), 'the process is gone');

  const json = await ctl(pm, ['--json', 'status']);
  t.equal(json.code, 0);
  t.match(
    JSON.parse(json.stdout),
    { name: 'es', state: 'stopped', pid: null, desired: 'stopped', lastExit: { code: null, signal: 'SIGTERM' } },
    "the API's JSON",
  );

  const health = await ctl(pm, ['health']);
  t.equal(health.code, 0);
  t.match(health.stdout, /^ok \| es stopped/);

  const audit = await manager.waitForLog(
    (r) => r['event.action'] === 'audit' && r['url.path'] === '/es/stop',
    'the audit line',
  );
  t.match(
    audit,
    { 'log.level': 'info', 'client.address': `unix:${socket}`, 'http.request.method': 'POST' },
    'the stop is audited with the socket it came through',
  );

  const start = await ctl(pm, ['start']);
  t.equal(start.code, 0, start.stderr);
  t.match(start.stdout, /^es started, pid \d+/);
});

t.test('ctl finds a socket moved by PM_SOCKET or --socket, as the manager does', async (t) => {
  const { pm } = install();
  const socket = path.join(tempDir(), 'elsewhere.sock');
  const manager = await startInstalled(pm, SLEEPER, { PM_SOCKET: socket });
  t.teardown(() => stopManager(manager));
  t.equal((await ctl(pm, ['status'], { PM_SOCKET: socket })).code, 0, 'through PM_SOCKET');
  t.equal((await ctl(pm, ['--socket', socket, 'status'])).code, 0, 'through --socket');
  t.equal((await ctl(pm, ['status'])).code, 69, 'not at the default place');
});

t.test('ctl with no manager: exit 69, and says where it looked and what it found', async (t) => {
  const { dir, pm } = install();
  const socket = path.join(dir, 'es.sock');
  const result = await ctl(pm, ['status']);
  t.equal(result.code, 69);
  t.match(
    result.stderr,
    `no socket at ${socket} (ENOENT): no manager runs with this --socket or --state-file, or it could not create the socket (its log says socket-unavailable)`,
  );
  t.equal(result.stdout, '');

  // What a SIGKILLed manager leaves: the socket file, nobody listening.
  const died = spawnSync(
    process.execPath,
    [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ],
    { timeout: 30_000 },
  );
  t.equal(died.signal, 'SIGKILL');
  const stale = await ctl(pm, ['status']);
  t.equal(stale.code, 69);
  t.match(stale.stderr, `nobody listens on ${socket} (ECONNREFUSED): the manager that created it is gone`);

  fs.rmSync(socket);
  fs.writeFileSync(socket, 'precious');
  const file = await ctl(pm, ['status']);
  t.equal(file.code, 69);
  t.match(file.stderr, `${socket} is not a socket (ECONNREFUSED): a file is in the way`);
});

t.test('ctl run by another user: exit 77, and says whose socket it is', async (t) => {
  const dir = tempDir();
  // The directory may be searched by anyone; the socket itself is mode 0600, the manager's (root's).
  fs.chmodSync(dir, 0o755);
  const stateFile = path.join(dir, 's.json');
  const manager = await startManager({ args: ['--state-file', stateFile, ...SLEEPER] });
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['event.action'] === 'socket-listening', 'the socket to listen');
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(EXECUTABLE, ['ctl', '--state-file', stateFile, 'status'], {
      uid: 65534,
      gid: 65534,
      env: { PATH: process.env.PATH },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  t.equal(result.code, 77, result.stderr);
  t.match(
    result.stderr,
    `permission denied on ${path.join(dir, 'es.sock')} (EACCES): the socket is mode 0600, owned by uid 0, and this is uid 65534: run ctl as uid 0 or as root`,
  );
});

t.test(
  '16 mutations waiting on a stop that takes long: ctl status still answers; a 17th mutation is told busy (75)',
  async (t) => {
    const { dir, pm } = install();
    // Ignores SIGTERM (so does its sleep): the stop waits for --stop-timeout, and every later mutation waits behind it.
    const manager = await startInstalled(pm, [
      '--stop-timeout',
      '10m',
      '--cmd',
      '/bin/sh',
      '--',
      '-c',
      'trap "" TERM; sleep 100000 & wait',
    ]);
    const socket = path.join(dir, 'es.sock');
    const es = (await manager.status()).pid;
    t.teardown(async () => {
      // Should the kill below not get through: the process group goes, so that the stops end.
      try {
        process.kill(-es, 'SIGKILL');
      } catch {
        /* gone */
      }
      await stopManager(manager);
    });
    const waiting = Array.from(
      { length: 16 },
      () =>
        new Promise<number>((resolve, reject) => {
          const request = http.request(
            { socketPath: socket, method: 'POST', path: '/es/stop', agent: false },
            (response) => {
              response.resume();
              response.on('end', () => resolve(response.statusCode ?? 0));
            },
          );
          request.on('error', reject);
          request.end();
        }),
    );
    await manager.waitForLog(
      () => manager.logs.filter((r) => r['event.action'] === 'audit' && r['url.path'] === '/es/stop').length === 16,
      'the 16 stops to arrive',
    );

    const status = await ctl(pm, ['status']);
    t.equal(status.code, 0, `ctl status answered: ${status.stderr}`);
    t.match(status.stdout, /^es stopping, pid \d+/);
    t.equal((await ctl(pm, ['health'])).code, 0, 'ctl health too');

    const seventeenth = await ctl(pm, ['restart']);
    t.equal(seventeenth.code, 75, 'busy: try again');
    t.match(
      seventeenth.stderr,
      /restart refused \(503\): 16 requests to change the process are already waiting; this one was not queued/,
    );

    const kill = await ctl(pm, ['kill']);
    t.equal(kill.code, 0, `a kill is one more mutation, but it does not wait: ${kill.stderr}`);
    const finished = await waitFor(
      () => Promise.race([Promise.all(waiting), new Promise<undefined>((resolve) => setTimeout(resolve, 100))]),
      'the waiting stops to finish',
    );
    t.same(new Set(finished), new Set([200]), 'the waiting stops finish with the kill');
  },
);

t.test('ctl: a refused request exits 1 with the reason', async (t) => {
  const dir = tempDir();
  const manager = await startManager({
    args: ['--cmd', path.join(dir, 'missing'), '--state-file', path.join(dir, 's.json')],
  });
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['process.state'] === 'failed', 'the boot start to fail');
  const result = await ctl(EXECUTABLE, ['--state-file', path.join(dir, 's.json'), 'start']);
  t.equal(result.code, 1);
  t.match(result.stderr, /start refused \(500\): cannot run --cmd: ENOENT/);
  const health = await ctl(EXECUTABLE, ['--state-file', path.join(dir, 's.json'), 'health']);
  t.equal(health.code, 0, 'degraded is an answer, not a failure');
  t.match(health.stdout, /^degraded: es should run but is failed/);
});

t.test('ctl usage errors exit 64', async (t) => {
  for (const args of [[], ['frobnicate'], ['status', 'stop']]) {
    const result = await ctl(EXECUTABLE, args);
    t.equal(result.code, 64, `ctl ${args.join(' ')}`);
    t.match(
      result.stderr,
      /^process-manager ctl(: unknown command 'frobnicate'; expected one of status, start, .*| needs a command: .*| status takes no argument); see process-manager ctl (status )?--help\n$/,
      'a plain line for the terminal, pointing at --help',
    );
    t.equal(result.stdout, '');
  }
});

t.test('a stale socket left by a manager that died is replaced', async (t) => {
  const dir = tempDir();
  const socket = path.join(dir, 'es.sock');
  // What a SIGKILLed manager leaves: the socket file, nobody listening.
  const died = spawnSync(
    process.execPath,
    [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ],
    { timeout: 30_000 },
  );
  t.equal(died.signal, 'SIGKILL');
  t.ok(fs.lstatSync(socket).isSocket(), 'a dead socket file is there');
  const manager = await startManager({ args: ['--state-file', path.join(dir, 's.json'), ...SLEEPER] });
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['event.action'] === 'socket-listening', 'the socket to listen');
  t.equal(
    (await ctl(EXECUTABLE, ['--state-file', path.join(dir, 's.json'), 'status'])).code,
    0,
    'ctl reaches the new manager',
  );
  await stopManager(manager);
  t.notOk(fs.existsSync(socket), 'and the manager removes it when it exits');
});

t.test('a file that is not a socket is left alone; the manager runs on without the socket', async (t) => {
  const dir = tempDir();
  const socket = path.join(dir, 'es.sock');
  fs.writeFileSync(socket, 'precious');
  const manager = await startManager({ args: ['--state-file', path.join(dir, 's.json'), ...SLEEPER] });
  t.teardown(() => stopManager(manager));
  const warning = await manager.waitForLog((r) => r['event.action'] === 'socket-unavailable', 'the warning');
  t.match(warning, { 'log.level': 'warn', message: /not a socket is in the way \(left alone\)/ });
  t.equal(fs.readFileSync(socket, 'utf8'), 'precious', 'the file is untouched');
  t.equal((await manager.status()).state, 'started', 'the manager works on');
});

t.test('a second manager on the same socket does not take it over', async (t) => {
  const dir = tempDir();
  const first = await startManager({ args: ['--state-file', path.join(dir, 's.json'), ...SLEEPER] });
  t.teardown(() => stopManager(first));
  await first.waitForLog((r) => r['event.action'] === 'socket-listening', 'the first socket');
  // Its own state file (one manager per state file), told to use the first one's socket.
  const second = await startManager({
    args: ['--state-file', path.join(dir, 's2.json'), '--socket', path.join(dir, 'es.sock'), ...SLEEPER],
  });
  t.teardown(() => stopManager(second));
  await second.waitForLog(
    (r) => r['event.action'] === 'socket-unavailable',
    'the second manager to give up the socket',
  );
  const status = JSON.parse(
    (await ctl(EXECUTABLE, ['--json', '--state-file', path.join(dir, 's.json'), 'status'])).stdout,
  );
  t.equal(status.pid, (await first.status()).pid, 'ctl still reaches the first manager');
});

t.test('under mutual TLS, ctl needs no certificate: the socket is the credential, TCP still refuses', async (t) => {
  const dir = tempDir();
  const { serverCa, args: tlsArgs } = mutualTlsFiles(dir);
  const stateFile = path.join(dir, 's.json');
  const manager = await startManager({
    args: ['--state-file', stateFile, '--http-host', '127.0.0.1', ...tlsArgs, ...SLEEPER],
  });
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['process.state'] === 'started', 'the process to start');
  t.equal(
    (await tlsRequest(manager.port, '/es/stop', { trust: serverCa.certPem, method: 'POST' })).status,
    401,
    'over TCP without a certificate: 401',
  );
  const stop = await ctl(EXECUTABLE, ['--state-file', stateFile, 'stop']);
  t.equal(stop.code, 0, stop.stderr);
  t.match(stop.stdout, /^es stopped/);
});

t.test('connections to the socket that never send a byte do not keep ctl out, and are closed', async (t) => {
  const { dir, pm } = install();
  const manager = await startInstalled(pm);
  t.teardown(() => stopManager(manager));
  const socket = path.join(dir, 'es.sock');
  // More than the socket's cap of 32, each connected and then silent.
  const silent = await Promise.all(
    Array.from(
      { length: 40 },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const client = net.connect(socket, () => resolve(client));
          client.once('error', reject);
        }),
    ),
  );
  const closed = silent.map(
    (client) => new Promise<void>((resolve) => (client.destroyed ? resolve() : client.once('close', () => resolve()))),
  );
  for (const client of silent) client.on('error', () => {});
  t.teardown(() => silent.forEach((client) => client.destroy()));

  const status = await ctl(pm, ['status']);
  t.equal(status.code, 0, `ctl still answered while 40 silent connections were open: ${status.stderr}`);
  t.match(status.stdout, /^es started, pid \d+/);
  await Promise.race([
    Promise.all(closed),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error('the silent connections were not closed within 60 s')), 60_000).unref(),
    ),
  ]);
  t.pass('the manager closed every silent connection');
});
