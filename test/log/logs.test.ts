// What the operator reads: every line JSON (the fatal one included), one
// start-up summary, severities that match the events, a process name that ps
// and pgrep find, and a broken stdout that takes nothing down.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { EXECUTABLE, isAlive, startManager, stopManager, tempDir, waitFor, within } from '../helpers/manager.ts';
import { startAsPid1 } from '../helpers/pid1.ts';
import { createLogger, logRuntimeWarnings } from '../../src/log/logger.ts';

t.test('one start-up line says what runs', async (t) => {
  const dir = tempDir();
  const manager = await startManager({
    args: [
      '--cmd',
      '/bin/sh',
      '--state-file',
      path.join(dir, 's.json'),
      '--stop-timeout',
      '2m30s',
      '--',
      '-c',
      'sleep 100000 & wait',
    ],
  });
  t.teardown(() => stopManager(manager));
  const line = await manager.waitForLog((r) => r['event.action'] === 'manager-start', 'the start-up line');
  const version = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  t.match(line, {
    'log.level': 'info',
    'service.version': version,
    'process.command_line': '/bin/sh -c sleep 100000 & wait',
    'file.path': path.join(dir, 's.json'),
    stop_timeout_ms: 150_000,
    shutdown_timeout_ms: 25_000,
    drain_delay_ms: 0,
    ready_check: 'http',
    config_paths: 0,
    pid1_mode: 'not-pid1',
    'server.address': '127.0.0.1',
    'server.port': manager.port,
    'socket.path': path.join(dir, 'es.sock'),
  });
  t.equal(manager.logs.filter((r) => r['event.action'] === 'manager-start').length, 1, 'once');
});

t.test(
  'under the PID-1 helper: the start-up line says so, and only a real typo of a PM_ variable is warned about',
  async (t) => {
    // PM_UNDER_HELPER, PM_READY_FD and PM_MANAGER_TUNABLES come from the helper; PM_HELPER_GRACE_MS is the helper's setting.
    const { manager } = await startAsPid1('/bin/sh', ['-c', 'sleep 100000 & wait'], {
      env: { PM_HELPER_GRACE_MS: '500', PM_SHUTDOWN_TIMOUT: '5s' },
    });
    t.teardown(() => stopManager(manager));
    const line = await manager.waitForLog((r) => r['event.action'] === 'manager-start', 'the start-up line');
    t.equal(line.pid1_mode, 'helper');
    const warned = manager.logs.filter((r) => r['event.action'] === 'config-warning').map((r) => r.message);
    t.equal(warned.length, 1, `one warning: ${JSON.stringify(warned)}`);
    t.match(warned[0], 'PM_SHUTDOWN_TIMOUT', 'for the typo, not for what the helper set');
  },
);

t.test("the manager's process name is process-manager (the runtime calls it MainThread)", async (t) => {
  const dir = tempDir();
  const manager = await startManager({
    args: ['--cmd', '/bin/sh', '--state-file', path.join(dir, 's.json'), '--', '-c', 'sleep 100000 & wait'],
  });
  t.teardown(() => stopManager(manager));
  t.equal(fs.readFileSync(`/proc/${manager.child.pid}/comm`, 'utf8'), 'process-manager\n');
  const pgrep = spawnSync('pgrep', ['-x', 'process-manager'], { encoding: 'utf8' });
  t.ok(pgrep.stdout.split('\n').includes(String(manager.child.pid)), 'pgrep -x process-manager finds it');
  t.match(
    fs.readFileSync(`/proc/${manager.child.pid}/cmdline`, 'utf8'),
    '--cmd\0/bin/sh',
    'ps -ef still shows what it supervises',
  );
});

t.test('a fatal start-up error is one JSON line, the last one, and nothing else is written', async (t) => {
  const dir = tempDir();
  const result = spawnSync(
    EXECUTABLE,
    [
      '--cmd',
      '/bin/true',
      '--http-port',
      '0',
      '--state-file',
      path.join(dir, 's.json'),
      '--tls-cert',
      path.join(dir, 'none.crt'),
      '--tls-key',
      path.join(dir, 'none.key'),
    ],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  t.equal(result.status, 78);
  t.equal(result.stderr, '', 'no plain text on stderr');
  const lines = result.stdout.trim().split('\n');
  for (const line of lines) t.doesNotThrow(() => JSON.parse(line), `JSON: ${line.slice(0, 80)}`);
  t.match(
    JSON.parse(lines.at(-1)!),
    { 'log.level': 'error', 'event.action': 'startup-error', 'process.exit_code': 78 },
    'the last line says why',
  );
});

t.test("the runtime's warnings become JSON lines instead of text on stderr", async (t) => {
  const lines: string[] = [];
  const written: string[] = [];
  const originalWrite = process.stderr.write;
  process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
  t.teardown(() => {
    process.stderr.write = originalWrite;
  });
  logRuntimeWarnings(createLogger((line) => lines.push(line)));
  process.emitWarning('2147483648000 does not fit into a 32-bit signed integer.', 'TimeoutOverflowWarning');
  await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  t.equal(lines.length, 1);
  t.match(JSON.parse(lines[0]), {
    'log.level': 'warn',
    'event.action': 'runtime-warning',
    'error.type': 'TimeoutOverflowWarning',
    message: /does not fit/,
  });
  t.same(written, [], "Node's own printer is gone");
});

t.test(
  'severities: an unexpected exit is an error, a SIGKILL after the stop timeout a warning, routine moves info',
  async (t) => {
    const run = await startOnFakeEs({
      args: ['--stop-timeout', '1s', '--on-exit', 'restart'],
      env: { FAKE_ES_ON_TERM: 'ignore' },
    });
    t.teardown(() => stopManager(run.manager));
    const first = await run.pids();
    process.kill(first[0], 'SIGKILL');
    const crash = await run.manager.waitForLog((r) => r['event.action'] === 'process-exit', 'the crash');
    t.match(crash, { 'log.level': 'error', 'event.reason': 'unexpected' });
    await run.pids(first);
    t.equal((await run.manager.request('POST', '/es/stop')).status, 200);
    await run.manager.waitForLog((r) => r['process.state'] === 'stopped', 'the stopped transition');
    t.match(
      run.manager.logs.find((r) => r['event.action'] === 'stop-timeout'),
      { 'log.level': 'warn', message: /still running 1000 ms after SIGTERM: sending SIGKILL/ },
    );
    t.match(
      run.manager.logs.filter((r) => r['event.action'] === 'process-exit')[1],
      { 'log.level': 'info', 'event.reason': 'stop' },
      'a requested exit is routine',
    );
    t.ok(
      run.manager.logs.filter((r) => r['event.action'] === 'state-change').every((r) => r['log.level'] === 'info'),
      'transitions are info',
    );
    t.notOk(run.manager.logs.some((r) => r['event.action'] === 'manager-start' && r['log.level'] !== 'info'));
  },
);

t.test(
  'stdout closed by its reader (| head -1): the manager and its process carry on, and a stop still works',
  async (t) => {
    const dir = tempDir();
    const stateFile = path.join(dir, 's.json');
    const child = spawn(
      EXECUTABLE,
      [
        '--cmd',
        '/bin/sh',
        '--http-port',
        '0',
        '--state-file',
        stateFile,
        '--',
        '-c',
        `echo $$ > ${dir}/pid; sleep 100000 & wait`,
      ],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
        detached: true,
      },
    );
    t.teardown(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdout!.resume();
    const pid = Number(
      await waitFor(
        () => fs.existsSync(`${dir}/pid`) && fs.readFileSync(`${dir}/pid`, 'utf8').trim(),
        'the process pid',
      ),
    );
    // The reader goes away, as `head -1` does after its line.
    child.stdout!.destroy();
    // Each request logs (audit, transitions): each write meets EPIPE.
    const ctl = (action: string) =>
      spawnSync(EXECUTABLE, ['ctl', '--state-file', stateFile, action], { encoding: 'utf8', timeout: 60_000 });
    t.equal(ctl('status').status, 0, 'the manager answers');
    const stop = ctl('stop');
    t.equal(stop.status, 0, `the stop is answered: ${stop.stderr}`);
    t.notOk(isAlive(pid), 'the process was stopped, not orphaned');
    t.ok(isAlive(child.pid!), 'the manager is still running');
    process.kill(child.pid!, 'SIGTERM');
    t.equal(await within(exited, 'the process to exit'), 0, 'and exits cleanly when told to');
  },
);
