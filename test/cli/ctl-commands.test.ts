// The ctl commands beyond one request: --help, `wait` (polling the socket until
// the process is started, stopped or ready, or the time is up), `signal` (a
// forwardable signal to the main pid, audited), `keystore` and `metrics`.
// Each against a real manager on its real socket, but the polling rate, which
// a socket server of the test's own counts.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { CTL_ACTIONS } from '../../src/config/config.ts';
import {
  EXECUTABLE,
  freePort,
  isAlive,
  ROOT,
  startManager,
  stopManager,
  tempDir,
  waitFor,
  within,
  type RunningManager,
} from '../helpers/manager.ts';
import { keystoreLayout, statusWhere, writeSecret } from '../helpers/keystore.ts';
import { issue, mutualTlsFiles, tlsRequest } from '../helpers/tls-client.ts';

interface CtlRun {
  readonly child: ReturnType<typeof spawn>;
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>;
}

function startCtl(args: string[], env: Record<string, string> = {}): CtlRun {
  const began = performance.now();
  const child = spawn(EXECUTABLE, ['ctl', ...args], { env: { PATH: process.env.PATH, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - began })),
  );
  return { child, done };
}

function ctl(args: string[], env: Record<string, string> = {}) {
  return within(startCtl(args, env).done, `ctl ${args.join(' ')}`);
}

const RECORD_SIGNALS = path.join(ROOT, 'test/fixtures/pid1/record-signals');
const SLEEPER = ['--cmd', '/bin/sh', '--', '-c', 'sleep 100000 & wait'];

/** A manager with a private state file; `at` are the ctl options that find it, `socket` its socket. */
async function managerWith(args: string[]): Promise<{ manager: RunningManager; at: string[]; socket: string }> {
  const stateFile = path.join(tempDir(), 's.json');
  const manager = await startManager({ args: ['--state-file', stateFile, ...args] });
  await manager.waitForLog((r) => r['event.action'] === 'socket-listening', 'the socket to listen');
  return { manager, at: ['--state-file', stateFile], socket: path.join(path.dirname(stateFile), 'es.sock') };
}

t.test('ctl --help and ctl COMMAND --help: exit 0, on stdout', async (t) => {
  const help = await ctl(['--help']);
  t.equal(help.code, 0, help.stderr);
  t.equal(help.stderr, '');
  for (const action of CTL_ACTIONS) t.match(help.stdout, new RegExp(`^  ${action}\\b`, 'm'), `lists ${action}`);
  for (const option of ['--json', '--socket PATH', '--state-file PATH', '--help'])
    t.match(help.stdout, option, `lists ${option}`);
  t.match(help.stdout, /75 busy or no answer \(try again\),\s+or the wait timed out/, 'and the exit statuses');
  t.same((await ctl(['-h'])).stdout, help.stdout, '-h too');

  for (const action of CTL_ACTIONS) {
    const one = await ctl([action, '--help']);
    t.equal(one.code, 0, `ctl ${action} --help`);
    t.match(one.stdout, new RegExp(`^Usage: process-manager ctl \\[--json\\] ${action}\\b`), `${action}: its usage`);
  }
  t.match((await ctl(['wait', '--help'])).stdout, /--timeout D \(default 5m/);
  t.match((await ctl(['signal', '-h'])).stdout, /QUIT USR2 ALRM STKFLT CONT TSTP URG XCPU VTALRM PROF WINCH IO PWR/);

  const unknown = await ctl(['frobnicate']);
  t.equal(unknown.code, 64, 'an unknown command stays a usage error');
  t.match(unknown.stderr, /^process-manager ctl: unknown command 'frobnicate'; .*see process-manager ctl --help\n$/);
  const badTarget = await ctl(['wait', 'up']);
  t.equal(badTarget.code, 64);
  t.match(
    badTarget.stderr,
    "ctl wait: 'up' is not one of started, stopped, ready; see process-manager ctl wait --help",
  );
  t.equal((await ctl(['wait', 'started', '--timeout', 'soon'])).code, 64, 'a --timeout that is no duration');
  t.equal((await ctl(['stop', '--timeout', '5s'])).code, 64, '--timeout goes with wait only');
  t.equal((await ctl(['signal'])).code, 64, 'signal needs its SIG');
  t.equal((await ctl(['signal', '../kill'])).code, 64, 'a SIG that is no name never reaches the manager');
});

t.test('ctl wait started, stopped, ready: exit 0 once it holds, with the state reached', async (t) => {
  const port = await freePort();
  // Ready only once something listens on this port: the test decides when.
  const { manager, at } = await managerWith(['--ready-check', `tcp:${port}`, ...SLEEPER]);
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['process.state'] === 'started', 'the boot start');

  const firstPid = (await manager.status()).pid;
  const stopped = startCtl([...at, 'wait', 'stopped', '--timeout', '2m']);
  t.equal((await ctl([...at, 'stop'])).code, 0);
  const stoppedResult = await within(stopped.done, 'wait stopped to end');
  t.equal(stoppedResult.code, 0, stoppedResult.stderr);
  t.match(
    stoppedResult.stdout,
    /^es stopped, since \S+; last exit: signal SIGTERM at \S+\n$/,
    'the state it waited for',
  );
  t.notOk(isAlive(firstPid));

  const started = startCtl([...at, 'wait', 'started', '--timeout', '2m']);
  const ready = startCtl([...at, '--json', 'wait', 'ready', '--timeout', '2m']);
  t.equal((await ctl([...at, 'start'])).code, 0);
  const startedResult = await within(started.done, 'wait started to end');
  t.equal(startedResult.code, 0, startedResult.stderr);
  const pid = (await manager.status()).pid;
  t.match(
    startedResult.stdout,
    new RegExp(`^es started, pid ${pid}, since `),
    'the start it waited for, not the stop before',
  );

  // Started, but nothing answers on the port: not ready until it does.
  await manager.waitForLog(
    (r) => r['event.action'] === 'readiness' && r['event.reason'] === 'not_answering',
    'a probe that finds the port closed',
  );
  t.equal(ready.child.exitCode, null, 'wait ready still waits while the check fails');
  const listener = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => listener.listen(port, '127.0.0.1', resolve));
  t.teardown(() => listener.close());
  const readyResult = await within(ready.done, 'wait ready to end');
  t.equal(readyResult.code, 0, readyResult.stderr);
  t.match(JSON.parse(readyResult.stdout), { ready: true, state: 'started' }, '--json: the readiness answer');
});

t.test('ctl wait that times out: exit 75 and the last state seen, after the timeout and not long after', async (t) => {
  const { manager, at } = await managerWith(SLEEPER);
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['process.state'] === 'started', 'the boot start');
  const result = await ctl([...at, 'wait', 'stopped', '--timeout', '1500ms']);
  t.equal(result.code, 75, result.stderr);
  t.match(
    result.stderr,
    /^process-manager ctl: wait stopped: not reached within 1500 ms; last seen: es started, pid \d+, since \S+; last exit: none\n$/,
  );
  t.equal(result.stdout, '');
  t.ok(result.ms >= 1500, `waited the whole timeout (${Math.round(result.ms)} ms)`);

  // No manager: nothing to wait for, at once rather than after five minutes.
  const none = await ctl(['--state-file', path.join(tempDir(), 's.json'), 'wait', 'started']);
  t.equal(none.code, 69);
  t.match(none.stderr, /no socket at .* \(ENOENT\)/);
});

t.test('ctl wait polls at a low rate and asks again when an answer does not come', async (t) => {
  // A stand-in manager that counts the reads: the first connection is dropped, the rest say "stopped".
  const socket = path.join(tempDir(), 'fake.sock');
  let reads = 0;
  const server = http.createServer((request, response) => {
    reads++;
    if (reads === 1) return request.socket.destroy();
    response.setHeader('content-type', 'application/json');
    response.end(
      JSON.stringify({ name: 'es', state: 'stopped', pid: null, since: 'then', lastExit: null, desired: 'stopped' }),
    );
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(() => server.close());
  const result = await ctl(['--socket', socket, 'wait', 'started', '--timeout', '3s']);
  t.equal(result.code, 75, result.stderr);
  t.match(result.stderr, 'last seen: es stopped, since then');
  // Every 500 ms over 3 s: 7 reads at most, however fast the machine.
  t.ok(reads >= 3 && reads <= 7, `${reads} reads in 3 s`);
});

t.test('ctl signal QUIT reaches the main process, audited; the group is left alone', async (t) => {
  const dir = tempDir();
  const record = path.join(dir, 'signals');
  const { manager, at } = await managerWith(['--cmd', RECORD_SIGNALS, '--', record]);
  t.teardown(() => stopManager(manager));
  await waitFor(
    () => fs.existsSync(record) && fs.readFileSync(record, 'utf8').includes('ready'),
    'the recorder to be ready',
  );
  const pid = (await manager.status()).pid;
  const sleeper = childrenOf(pid)[0];
  t.ok(sleeper, 'the recorder runs its sleep in its group');

  const quit = await ctl([...at, 'signal', 'QUIT']);
  t.equal(quit.code, 0, quit.stderr);
  t.equal(quit.stdout, `sent SIGQUIT to es, pid ${pid}\n`);
  await waitFor(() => fs.readFileSync(record, 'utf8').includes('QUIT'), 'the recorder to get SIGQUIT');

  // USR2 kills a process that does not handle it: the sleep would die were it sent to the group.
  const usr2 = await ctl([...at, '--json', 'signal', 'sigusr2']);
  t.equal(usr2.code, 0, usr2.stderr);
  t.same(
    JSON.parse(usr2.stdout),
    { name: 'es', signal: 'SIGUSR2', pid },
    'any case, SIG optional; --json: the API answer',
  );
  await waitFor(() => fs.readFileSync(record, 'utf8').includes('USR2'), 'the recorder to get SIGUSR2');
  t.ok(isAlive(sleeper), 'the other member of its group did not get it');

  const audit = await manager.waitForLog(
    (r) => r['event.action'] === 'audit' && r['url.path'] === '/es/signal/QUIT',
    'the audit line',
  );
  t.match(audit, { 'log.level': 'info', 'http.request.method': 'POST', 'client.address': /^unix:/ });
  const sent = await manager.waitForLog(
    (r) => r['event.action'] === 'signal' && r['process.signal'] === 'SIGQUIT',
    'the signal line',
  );
  t.match(sent, {
    'process.pid': pid,
    'signal.target': 'process',
    'event.reason': 'requested by POST /es/signal/QUIT',
  });
});

t.test(
  'ctl signal refuses what stop and kill are for, what cannot be passed on, and a process that does not run',
  async (t) => {
    const dir = tempDir();
    const record = path.join(dir, 'signals');
    const { manager, at, socket } = await managerWith(['--cmd', RECORD_SIGNALS, '--', record]);
    t.teardown(() => stopManager(manager));
    await waitFor(
      () => fs.existsSync(record) && fs.readFileSync(record, 'utf8').includes('ready'),
      'the recorder to be ready',
    );

    const term = await ctl([...at, 'signal', 'TERM']);
    t.equal(term.code, 1);
    t.match(
      term.stderr,
      /^process-manager ctl: signal refused \(400\): the signal must be one of the signals that can be passed on \(QUIT, USR2, .*PWR\); TERM is not: use POST \/es\/stop \(ctl stop\)/,
    );
    const kill = await ctl([...at, 'signal', 'kill']);
    t.match(kill.stderr, /kill is not: use POST \/es\/kill \(ctl kill\)/);
    for (const refused of ['USR1', 'HUP', 'SIGSEGV', 'NOSUCH']) {
      const result = await ctl([...at, 'signal', refused]);
      t.equal(result.code, 1, `${refused} refused`);
      t.match(result.stderr, `refused (400): the signal must be one of the signals that can be passed on (QUIT, `);
    }
    const api = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const request = http.request({ socketPath: socket, method: 'POST', path: '/es/signal/USR1' }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(body) }));
      });
      request.on('error', reject);
      request.end();
    });
    t.match(
      api,
      { status: 400, body: { error: { type: 'illegal_argument_exception' }, status: 400 } },
      'the API: 400 illegal_argument_exception',
    );
    t.equal((await manager.request('GET', '/es/signal/QUIT')).status, 405, 'POST only');
    t.equal(fs.readFileSync(record, 'utf8'), 'ready\n', 'nothing reached the process');

    t.equal((await ctl([...at, 'stop'])).code, 0);
    const stopped = await ctl([...at, 'signal', 'QUIT']);
    t.equal(stopped.code, 1);
    t.match(stopped.stderr, 'signal refused (409): es is stopped: no process to send SIGQUIT to');
  },
);

t.test('ctl signal during a shutdown that hangs: sent, while other mutations are refused', async (t) => {
  const record = path.join(tempDir(), 'signals');
  // Ignores SIGTERM, so the shutdown waits out --shutdown-timeout; records QUIT.
  const script = `trap "" TERM; trap "echo QUIT >> '${record}'" QUIT; echo ready >> '${record}'; while :; do sleep 100000 & wait $!; done`;
  const { manager, at } = await managerWith(['--shutdown-timeout', '10m', '--cmd', '/bin/sh', '--', '-c', script]);
  t.teardown(() => stopManager(manager));
  await waitFor(() => fs.existsSync(record), 'the process to be ready');
  manager.child.kill('SIGTERM');
  await manager.waitForLog((r) => r['process.state'] === 'stopping', 'the shutdown to begin');
  const stop = await ctl([...at, 'stop']);
  t.equal(stop.code, 1);
  t.match(stop.stderr, 'stop refused (503): the manager is shutting down');
  const quit = await ctl([...at, 'signal', 'QUIT']);
  t.equal(quit.code, 0, quit.stderr);
  await waitFor(() => fs.readFileSync(record, 'utf8').includes('QUIT'), 'the thread dump signal to reach the process');
});

t.test('POST /NAME/signal/SIG needs a client certificate under mutual TLS, like every mutation', async (t) => {
  const dir = tempDir();
  const { serverCa, clientCa, args: tlsArgs } = mutualTlsFiles(dir);
  const client = issue(clientCa, path.join(dir, 'client'), 'operator');
  const manager = await startManager({
    args: ['--state-file', path.join(dir, 's.json'), '--http-host', '127.0.0.1', ...tlsArgs, ...SLEEPER],
  });
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['process.state'] === 'started', 'the process to start');
  t.equal(
    (await tlsRequest(manager.port, '/es/signal/QUIT', { trust: serverCa.certPem, method: 'POST' })).status,
    401,
    'no certificate: 401',
  );
  const allowed = await tlsRequest(manager.port, '/es/signal/WINCH', {
    trust: serverCa.certPem,
    method: 'POST',
    client,
  });
  t.equal(allowed.status, 200, 'with one: sent');
  const audit = await manager.waitForLog(
    (r) => r['event.action'] === 'audit' && r['url.path'] === '/es/signal/WINCH',
    'the audit line',
  );
  t.match(audit, { 'tls.client.subject': /CN=/ }, 'audited with the certificate that asked');
});

t.test('ctl metrics: the Prometheus text as it is', async (t) => {
  const { manager, at } = await managerWith(SLEEPER);
  t.teardown(() => stopManager(manager));
  await manager.waitForLog((r) => r['process.state'] === 'started', 'the boot start');
  const metrics = await ctl([...at, 'metrics']);
  t.equal(metrics.code, 0, metrics.stderr);
  const namesOf = (text: string) => [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
  t.ok(namesOf(metrics.stdout).length > 5, 'Prometheus text');
  t.same(
    namesOf(metrics.stdout),
    namesOf((await manager.request('GET', '/metrics')).text),
    'the same metrics GET /metrics serves',
  );
  t.match(metrics.stdout, /\npm_process_state\{name="es",state="started"\} 1\n/, 'as it is now');
  t.same(
    (await ctl([...at, '--json', 'metrics'])).stdout.split('\n')[0],
    metrics.stdout.split('\n')[0],
    '--json changes nothing',
  );
});

t.test("ctl keystore: the updater's state in a line, its status with --json, and exit 1 when it is off", async (t) => {
  const layout = keystoreLayout();
  writeSecret(layout.sourceDir, { 'xpack.notification.email.account.a.smtp.secure_password': 'secret' });
  const manager = await startManager({ args: layout.args, env: layout.env });
  t.teardown(() => stopManager(manager));
  await statusWhere(manager, (s) => s.state === 'synced', 'the first sync');
  const at = ['--state-file', layout.stateFile];
  const line = await ctl([...at, 'keystore']);
  t.equal(line.code, 0, line.stderr);
  t.match(
    line.stdout,
    /^keystore synced: .*; 1 setting\(s\): xpack\.notification\.email\.account\.a\.smtp\.secure_password\n$/,
  );
  t.notMatch(line.stdout, 'secret\n', 'names, never values');
  const json = await ctl([...at, '--json', 'keystore']);
  t.match(JSON.parse(json.stdout), {
    state: 'synced',
    settings: ['xpack.notification.email.account.a.smtp.secure_password'],
  });

  const { manager: plain, at: plainAt } = await managerWith(SLEEPER);
  t.teardown(() => stopManager(plain));
  const off = await ctl([...plainAt, 'keystore']);
  t.equal(off.code, 1);
  t.match(off.stderr, 'keystore refused (404): the keystore updater is disabled');
});

/** Direct children of pid, from /proc. */
function childrenOf(pid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}
