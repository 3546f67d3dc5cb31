// The compiled helper on its own, with a stand-in runtime (PM_HELPER_RUNTIME):
// not PID 1 it execs the runtime in place; as PID 1 of a PID namespace it
// forks it, holds signals until it is ready, forwards what the manager
// listens for, reaps, and exits with its status.

import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { tempDir, waitFor, within } from '../helpers/manager.ts';
import { HELPER, PID1_FIXTURES, recorded, UNSHARE } from '../helpers/pid1.ts';
import { childrenOf } from '../helpers/procfs.ts';

function runHelper(
  runtime: string,
  args: string[] = [],
  options: { input?: string; env?: Record<string, string>; asPid1?: boolean } = {},
) {
  const argv = options.asPid1 ? [...UNSHARE, HELPER, ...args] : [HELPER, ...args];
  return spawnSync(argv[0], argv.slice(1), {
    input: options.input,
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH, PM_HELPER_RUNTIME: runtime, ...options.env },
  });
}

/** A runtime that prints what a runtime started by the helper gets: pid, pgid, argv, signal mask, environment. */
function reportingRuntime(): string {
  const file = path.join(tempDir(), 'report');
  fs.writeFileSync(
    file,
    `#!/bin/sh
echo "pid=$$"
echo "pgid=$(ps -o pgid= -p $$ | tr -d ' ')"
echo "args=$*"
grep -E '^Sig(Blk|Ign):' /proc/$$/status | tr -d '\\t'
env | grep -E '^(PM_|GLIBC_TUNABLES)' | sort
`,
    { mode: 0o755 },
  );
  return file;
}

function parseReport(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((line) => /^[A-Za-z_]+[=:]/.test(line))
      .map((line) => {
        const at = line.search(/[=:]/);
        return [line.slice(0, at), line.slice(at + 1)];
      }),
  );
}

/** The helper's own lines are JSON on stdout, like the manager's: each parses, whatever the message holds. */
function helperLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

t.test('a missing runtime exits 127 and says why, in a JSON line', async (t) => {
  const runtime = '/does/not/"ex\\ist"\t';
  const result = runHelper(runtime);
  t.equal(result.status, 127);
  t.equal(result.stderr, '', 'nothing on stderr');
  const [line, ...more] = helperLines(result.stdout);
  t.same(more, [], 'one line');
  t.match(line, {
    'log.level': 'error',
    message: `exec ${runtime} failed: No such file or directory`,
    'event.action': 'pid1-helper',
    'service.name': 'process-manager',
    'process.pid': result.pid,
    'ecs.version': String,
  });
  const stamp = Date.parse(String(line['@timestamp']));
  t.ok(Math.abs(Date.now() - stamp) < 5 * 60_000, `a current ISO timestamp (${line['@timestamp']})`);
  t.match(line['@timestamp'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

t.test('a runtime that is not executable exits 126', async (t) => {
  const file = path.join(tempDir(), 'not-executable');
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  const result = runHelper(file);
  t.equal(result.status, 126);
  t.match(helperLines(result.stdout)[0], { message: /Permission denied/ });
});

t.test('without PM_HELPER_RUNTIME it runs .process-manager-runtime beside itself', async (t) => {
  const dir = tempDir();
  fs.copyFileSync(HELPER, path.join(dir, 'process-manager'));
  fs.chmodSync(path.join(dir, 'process-manager'), 0o755);
  fs.writeFileSync(path.join(dir, '.process-manager-runtime'), '#!/bin/sh\necho "beside: $0 $*"\n', { mode: 0o755 });
  const result = spawnSync(path.join(dir, 'process-manager'), ['a', 'b'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
  t.equal(result.status, 0, result.stderr);
  t.equal(result.stdout, `beside: ${path.join(dir, '.process-manager-runtime')} a b\n`);
});

t.test(
  'not PID 1: the runtime replaces the helper (same pid), with the mask the helper was given plus SIGUSR1',
  async (t) => {
    const result = runHelper(reportingRuntime(), ['--cmd', 'x']);
    t.equal(result.status, 0, result.stderr);
    const report = parseReport(result.stdout);
    t.equal(report.args, '--cmd x', 'the arguments are passed on');
    t.equal(report.SigBlk, '0000000000000200', 'no signal left blocked but SIGUSR1, which the runtime never takes');
    t.equal(report.SigIgn, '0000000000000000', 'none ignored');
    t.equal(
      report.GLIBC_TUNABLES,
      'glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=65536',
      "the manager's allocator settings",
    );
    t.equal(report.PM_MANAGER_TUNABLES, '1', 'marked as the manager’s own');
    t.notOk('PM_UNDER_HELPER' in report, 'not under a helper: nothing holds its signals');
    t.notOk('PM_READY_FD' in report);
    t.notOk('PM_HELPER_RUNTIME' in report, 'the helper’s own variable goes no further');

    const own = runHelper(reportingRuntime(), [], { env: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' } });
    t.equal(
      parseReport(own.stdout).GLIBC_TUNABLES,
      'glibc.malloc.arena_max=2',
      "the pod's own GLIBC_TUNABLES are left alone",
    );
    t.notOk('PM_MANAGER_TUNABLES' in parseReport(own.stdout));

    const helper = spawn(HELPER, [], {
      env: { PATH: process.env.PATH, PM_HELPER_RUNTIME: '/bin/sh' },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let stdout = '';
    helper.stdout!.on('data', (chunk) => (stdout += chunk));
    helper.stdin!.end('echo $$\n');
    await within(new Promise((resolve) => helper.once('exit', resolve)), 'the runtime to exit');
    t.equal(stdout.trim(), String(helper.pid), 'the runtime runs as the very process that was started');
  },
);

t.test('stdin, stdout and stderr pass through', async (t) => {
  const result = runHelper('/bin/sh', [], { input: 'echo to-stdout; echo to-stderr >&2; exit 0\n' });
  t.equal(result.status, 0);
  t.equal(result.stdout, 'to-stdout\n');
  t.equal(result.stderr, 'to-stderr\n');
});

t.test('as PID 1: the manager is forked in a process group of its own, told where to say it is ready', async (t) => {
  const result = runHelper(reportingRuntime(), ['x'], { asPid1: true });
  t.equal(result.status, 0, result.stderr);
  const report = parseReport(result.stdout);
  t.equal(report.pid, '2', 'PID 1 forked it');
  t.equal(report.pgid, '2', 'it leads its own group: a terminal’s Ctrl-C reaches it once, not also through PID 1');
  t.equal(report.PM_UNDER_HELPER, '1');
  t.match(report.PM_READY_FD, /^\d+$/);
  t.equal(report.SigBlk, '0000000000000200', 'no signal left blocked but SIGUSR1');
  t.equal(report.args, 'x');
});

for (const code of [0, 1, 2, 127, 255]) {
  t.test(`as PID 1: exit code ${code} is passed through`, async (t) => {
    t.equal(runHelper('/bin/sh', ['-c', `exit ${code}`], { asPid1: true }).status, code);
  });
}

for (const [name, number] of [
  ['TERM', 15],
  ['KILL', 9],
  ['HUP', 1],
] as const) {
  t.test(`as PID 1: death by SIG${name} becomes ${128 + number}`, async (t) => {
    t.equal(runHelper('/bin/sh', ['-c', `kill -${name} $$`], { asPid1: true }).status, 128 + number);
  });
}

/** The helper as PID 1 over a fixture; returns the pids and the exit. */
async function helperAsPid1(t: Test, runtime: string, args: string[]) {
  const unshare = spawn(UNSHARE[0], [...UNSHARE.slice(1), HELPER, ...args], {
    env: { PATH: process.env.PATH, PM_HELPER_RUNTIME: runtime },
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => unshare.once('exit', (code) => resolve(code)));
  t.teardown(() => unshare.kill('SIGKILL'));
  const pid1 = await waitFor(() => childrenOf(unshare.pid!)[0], 'unshare to fork PID 1');
  return { pid1, exited };
}

t.test('as PID 1: no signal is passed on before the manager is ready, and none is lost', async (t) => {
  const dir = tempDir();
  const record = path.join(dir, 'signals');
  const go = path.join(dir, 'go');
  const { pid1, exited } = await helperAsPid1(t, path.join(PID1_FIXTURES, 'ready-when-told'), [record, go]);
  await waitFor(() => recorded(record).includes('waiting'), 'the stand-in manager to start');
  for (const signal of ['SIGHUP', 'SIGQUIT', 'SIGTERM'] as const) process.kill(pid1, signal);
  // Sent to PID 1, held there: the stand-in shows nothing until it says it is ready.
  // (A stand-in that polls a file twenty times a second: a signal passed on would show within a poll.)
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.same(recorded(record), ['waiting'], 'nothing passed on while it is not ready');
  fs.writeFileSync(go, '');
  t.equal(await within(exited, 'the process to exit'), 143, 'once ready, the held SIGTERM arrives and ends it');
  t.same(recorded(record), ['waiting', 'ready', 'HUP', 'QUIT', 'TERM'], 'every held signal arrived, once each');
});

t.test('as PID 1: what the manager has no listener for is not passed on (USR1, TTIN, real-time signals)', async (t) => {
  const record = path.join(tempDir(), 'signals');
  const { pid1, exited } = await helperAsPid1(t, path.join(PID1_FIXTURES, 'record-signals'), [record]);
  await waitFor(() => recorded(record).includes('ready'), 'the fixture to be ready');
  // USR1 would be recorded, TTIN would stop it (so HUP would never be), signal 40 would end it.
  for (const signal of ['SIGUSR1', 'SIGTTIN', 40, 'SIGHUP'] as const) process.kill(pid1, signal);
  await waitFor(() => recorded(record).includes('HUP'), 'the HUP sent last to arrive');
  process.kill(pid1, 'SIGTERM');
  t.equal(await within(exited, 'the process to exit'), 143, 'it lived on until SIGTERM');
  t.same(recorded(record), ['ready', 'HUP', 'TERM'], 'only HUP and TERM reached it');
});

t.test('as PID 1: it adopts and reaps orphans, and sweeps the namespace when the manager exits', async (t) => {
  const dir = tempDir();
  const runtime = path.join(dir, 'runtime');
  const swept = path.join(dir, 'swept');
  // Ready at once; leaves a process that records its SIGTERM, and orphans to reap; then exits 7.
  fs.writeFileSync(
    runtime,
    `#!/bin/sh
printf r >&$PM_READY_FD
sh -c 'trap "echo TERM > ${swept}; exit 0" TERM; while :; do sleep 0.05; done' &
${path.join(PID1_FIXTURES, 'make-orphans')} 20 > /dev/null &
sleep 1
exit 7
`,
    { mode: 0o755 },
  );
  const { exited } = await helperAsPid1(t, runtime, []);
  t.equal(await within(exited, 'the process to exit'), 7, "the manager's status");
  t.equal(fs.readFileSync(swept, 'utf8'), 'TERM\n', 'what was left got SIGTERM before the end');
});

const hasValgrind = spawnSync('valgrind', ['--version']).status === 0;
t.test('no leak under valgrind, as PID 1', { skip: hasValgrind ? false : 'valgrind is not installed' }, async (t) => {
  const result = await within(
    new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(
        UNSHARE[0],
        [...UNSHARE.slice(1), 'valgrind', '--leak-check=full', '--error-exitcode=1', HELPER, '/'],
        { env: { PATH: process.env.PATH, PM_HELPER_RUNTIME: '/bin/ls' } },
        (error, _stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    ),
    'valgrind to finish',
    240_000,
  );
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, /ERROR SUMMARY: 0 errors/);
});

t.test('issue 14 item 5: the signal recorders take their sleep with them when SIGTERM ends them', async (t) => {
  for (const fixture of ['record-signals', 'print-signals']) {
    const record = path.join(tempDir(), 'signals');
    const recorder = spawn(path.join(PID1_FIXTURES, fixture), [record], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => recorder.once('exit', (code) => resolve(code)));
    const sleeper = await waitFor(
      () => recorded(record).includes('ready') && childrenOf(recorder.pid!)[0],
      `${fixture}'s sleep`,
    );
    recorder.kill('SIGTERM');
    t.equal(await within(exited, 'the process to exit'), 143, `${fixture} ends with 143`);
    await waitFor(
      () => !fs.existsSync(`/proc/${sleeper}`) || fs.readFileSync(`/proc/${sleeper}/stat`, 'utf8').includes(') Z'),
      `${fixture}'s sleep ${sleeper} to be gone`,
      10_000,
    );
    t.pass(`${fixture} left no sleep behind`);
  }
});

t.test(
  'issue 23: as PID 1 with stdout a full pipe nobody reads, the helper does not wait for the reader: its line is lost, it sweeps and exits',
  async (t) => {
    const dir = tempDir();
    const fifo = path.join(dir, 'stdout');
    execFileSync('mkfifo', [fifo]);
    const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    t.teardown(() => fs.closeSync(reader));
    const writer = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    // Fill it to the last byte.
    for (const chunk of [Buffer.alloc(4096, 'x'), Buffer.from('x')]) {
      for (;;) {
        try {
          fs.writeSync(writer, chunk);
        } catch {
          break; // EAGAIN: full
        }
      }
    }
    // The stand-in manager SIGKILLs itself at once: the helper's line about it meets the full pipe.
    const unshare = spawn(UNSHARE[0], [...UNSHARE.slice(1), HELPER, '-c', 'kill -KILL $$'], {
      env: { PATH: process.env.PATH, PM_HELPER_RUNTIME: '/bin/sh' },
      stdio: ['ignore', writer, 'ignore'],
    });
    fs.closeSync(writer);
    t.teardown(() => unshare.kill('SIGKILL'));
    const exited = new Promise<number | null>((resolve) => unshare.once('exit', (code) => resolve(code)));
    const code = await Promise.race([
      exited,
      new Promise<string>((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000).unref()),
    ]);
    t.equal(code, 137, "the helper exited with the manager's status instead of waiting for the reader");
  },
);
