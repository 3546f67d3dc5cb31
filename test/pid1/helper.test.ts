// The compiled helper on its own (not PID 1, so it acts as a subreaper):
// exec errors, exit statuses, stdio, signal forwarding, reaping, leaks.

import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EXECUTABLE, ROOT, tempDir, waitFor } from '../helpers/manager.ts';
import { descendants } from '../helpers/procfs.ts';

const HELPER = path.join(path.dirname(EXECUTABLE), 'pm-helper');
const FIXTURES = path.join(ROOT, 'test/fixtures/pid1');

function runHelper(args: string[], input?: string) {
  return spawnSync(HELPER, args, { input, encoding: 'utf8', timeout: 30_000 });
}

t.test('a missing program exits 127 and says why', async (t) => {
  const result = runHelper(['/does/not/exist']);
  t.equal(result.status, 127);
  t.match(result.stderr, 'pm-helper: exec /does/not/exist failed: No such file or directory');
});

t.test('a program that is not executable exits 126', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'not-executable');
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  const result = runHelper([file]);
  t.equal(result.status, 126);
  t.match(result.stderr, 'Permission denied');
});

t.test('no program: usage and exit 1', async (t) => {
  const result = runHelper([]);
  t.equal(result.status, 1);
  t.match(result.stderr, 'usage: pm-helper PROGRAM [ARG...]');
});

t.test('stdin, stdout and stderr pass through', async (t) => {
  const result = runHelper(['/bin/sh'], 'echo to-stdout; echo to-stderr >&2; exit 0\n');
  t.equal(result.status, 0);
  t.equal(result.stdout, 'to-stdout\n');
  t.equal(result.stderr, 'to-stderr\n');
});

for (const code of [0, 1, 2, 127, 255]) {
  t.test(`exit code ${code} is passed through`, async (t) => {
    t.equal(runHelper(['/bin/sh', '-c', `exit ${code}`]).status, code);
  });
}

for (const [name, number] of [['TERM', 15], ['KILL', 9], ['HUP', 1]] as const) {
  t.test(`death by SIG${name} becomes ${128 + number}`, async (t) => {
    t.equal(runHelper(['/bin/sh', '-c', `kill -${name} $$`]).status, 128 + number);
  });
}

t.test('signals sent to the helper reach the program, SIGTERM included', async (t) => {
  const record = path.join(tempDir(), 'signals');
  const helper = spawn(HELPER, [path.join(FIXTURES, 'record-signals'), record], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => helper.once('exit', (code) => resolve(code)));
  await waitFor(() => fs.existsSync(record), 'the fixture to be ready');
  for (const signal of ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const) {
    helper.kill(signal);
    await waitFor(() => fs.readFileSync(record, 'utf8').includes(signal.slice(3)), `${signal} to arrive`);
  }
  helper.kill('SIGTERM');
  t.equal(await exited, 143, 'the program ended on SIGTERM with 143, and so did the helper');
  t.same(fs.readFileSync(record, 'utf8').trim().split('\n'), ['ready', 'HUP', 'USR1', 'USR2', 'WINCH', 'TERM']);
});

t.test('not PID 1, it still adopts and reaps the orphans of its subtree', async (t) => {
  const helper = spawn(HELPER, [path.join(FIXTURES, 'make-orphans'), '20'], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  // The helper and its program share one process group; take both down.
  t.teardown(() => process.kill(-helper.pid!, 'SIGKILL'));
  await new Promise((resolve) => helper.stdout!.once('data', resolve));
  // Adopted: they are below the helper even though their parents are gone.
  await waitFor(() => descendants(helper.pid!).length > 2, 'orphans to be adopted', 5_000, 1);
  await waitFor(() => descendants(helper.pid!).filter((p) => p.comm === 'sleep').length === 1, 'the orphans to exit', 20_000);
  t.same(
    descendants(helper.pid!).filter((p) => p.state === 'Z'),
    [],
    'no zombie left below the helper',
  );
});

const hasValgrind = spawnSync('valgrind', ['--version']).status === 0;
t.test('no leak under valgrind', { skip: hasValgrind ? false : 'valgrind is not installed' }, async (t) => {
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
    execFile('valgrind', ['--leak-check=full', '--error-exitcode=1', HELPER, '/bin/ls', '/'], (error, _stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
    ),
  );
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, /ERROR SUMMARY: 0 errors/);
});
