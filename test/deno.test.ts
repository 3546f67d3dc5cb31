// The same source runs under Deno (deno from npm), straight from src/.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ROOT, startManager, stopManager, tempDir, waitFor, within } from './helpers/manager.ts';

const DENO = path.join(ROOT, 'node_modules/.bin/deno');
const MAIN = path.join(ROOT, 'src/main.ts');

t.test('deno run -A src/main.ts --help', async (t) => {
  const result = spawnSync(DENO, ['run', '-A', MAIN, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  t.equal(result.status, 0, result.stderr);
  t.match(result.stdout, /^process-manager 0\.0\.0-source: PID 1 and process manager/);
  t.match(result.stdout, /--stop-timeout D/);
});

t.test('deno run: a usage error exits 64', async (t) => {
  const result = spawnSync(DENO, ['run', '-A', MAIN, '--bogus'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  t.equal(result.status, 64);
  t.match(
    JSON.parse(result.stdout.trim().split('\n').at(-1)!),
    { 'event.action': 'startup-error', message: /unknown option '--bogus'/ },
    'a JSON line, as from the executable',
  );
});

t.test('deno run: supervise a process, serve the API, stop it, exit with its status', async (t) => {
  const dir = tempDir();
  // The shell says when its trap is set: a SIGTERM before that would end it with 143, not 3.
  const trapped = path.join(dir, 'trapped');
  const manager = await startManager({
    wrapper: [DENO, 'run', '-A', MAIN],
    args: [
      '--cmd',
      '/bin/sh',
      '--state-file',
      path.join(dir, 's.json'),
      '--ready-check',
      'none',
      '--config-path',
      MAIN,
      '--',
      '-c',
      'trap "exit 3" TERM; : > "$0"; sleep 100000 & wait',
      trapped,
    ],
  });
  t.teardown(() => stopManager(manager));
  t.equal((await manager.request('GET', '/health')).status, 200);
  const started = await manager.status();
  t.equal(started.state, 'started');
  t.equal(
    started.config.sha256,
    createHash('sha256')
      .update(`. ${createHash('sha256').update(fs.readFileSync(MAIN)).digest('hex')}\n`)
      .digest('hex'),
    'the configuration checksum',
  );
  t.equal((await manager.request('GET', '/es/ready')).status, 200, 'ready');
  await waitFor(() => fs.existsSync(trapped), 'the shell to set its trap');
  fs.rmSync(trapped);
  const stopped = await manager.request('POST', '/es/stop');
  t.match(stopped.json, { state: 'stopped', lastExit: { code: 3, signal: null } });
  t.equal((await manager.request('POST', '/es/start')).status, 202);
  await waitFor(() => fs.existsSync(trapped), 'the restarted shell to set its trap');
  manager.child.kill('SIGTERM');
  t.equal(
    (await within(manager.exited, 'the manager to exit')).code,
    3,
    'SIGTERM: stop, then exit with the process status',
  );
});
