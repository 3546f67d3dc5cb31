// Issue 23 item 7: a process that leaves Elasticsearch's process group
// (setsid, as a daemonizing plugin would) is out of a stop's reach. The manager
// finds it by the marker it puts in the supervised process's environment,
// reports it in the status and /health after the stop, and ends it before the
// next start, also when an earlier manager left it behind.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { isAlive, startManager, stopManager, FAKE_ES, tempDir, waitFor, within } from '../helpers/manager.ts';
import { startAsPid1 } from '../helpers/pid1.ts';
import { descendants, namespacePid, processTable } from '../helpers/procfs.ts';

function pidsIn(file: string): number[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
}

/** The stray and whatever it started (its sleep): everything in its session. */
function sessionOf(pid: number): number[] {
  return processTable()
    .filter((entry) => {
      try {
        const stat = fs.readFileSync(`/proc/${entry.pid}/stat`, 'latin1');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]) === pid;
      } catch {
        return false;
      }
    })
    .map((entry) => entry.pid);
}

/** Kills every stray a run recorded, should the test have failed before the manager ended them. */
function killStrays(file: string): void {
  for (const pid of pidsIn(file)) {
    for (const member of [pid, ...sessionOf(pid)]) {
      try {
        process.kill(member, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

t.test('a process that left the group: reported after a stop, ended before the next start', async (t) => {
  const dir = tempDir();
  const straysFile = path.join(dir, 'strays');
  const run = await startOnFakeEs({ dir, env: { FAKE_ES_SETSID: straysFile } });
  t.teardown(async () => {
    await stopManager(run.manager);
    killStrays(straysFile);
  });
  const [launcher] = await run.pids();
  const [stray] = await waitFor(
    () => pidsIn(straysFile).length > 0 && pidsIn(straysFile),
    'the process that leaves the group',
  );
  await waitFor(() => sessionOf(stray).length === 2, 'the stray and its sleep');
  const group = processTable().find((entry) => entry.pid === stray)!.pgid;
  t.not(group, launcher, "it left Elasticsearch's process group");

  const stopped = await run.manager.request('POST', '/es/stop');
  t.equal(stopped.status, 200);
  t.ok(isAlive(stray), 'the stop did not reach it');
  t.same([...stopped.json.strays].sort(), sessionOf(stray).sort(), "the stop's answer names it and its sleep");
  t.same((await run.manager.status()).strays.sort(), sessionOf(stray).sort(), 'so does the status');
  const health = (await run.manager.request('GET', '/health')).json;
  t.equal(health.status, 'degraded');
  t.match(health.reasons, [
    /^2 processes started by es left its process group and outlive it \(pids [\d ]+\); they are ended before the next start$/,
  ]);
  t.match(
    run.manager.logs.find((r) => r['event.action'] === 'strays'),
    { 'log.level': 'warn', message: /^2 processes started by es left its process group and outlive it/ },
  );

  const straySession = sessionOf(stray);
  const started = await run.manager.request('POST', '/es/start');
  t.equal(started.status, 202);
  t.notOk(straySession.some(isAlive), 'ended before the start answered: before the new process was spawned');
  t.equal(fs.readFileSync(`${straysFile}.term`, 'utf8'), `term ${stray}\n`, 'politely: SIGTERM first');
  t.same(started.json.strays, [], 'nothing left to report');
  t.equal((await run.manager.request('GET', '/health')).json.status, 'ok');
  // The new run's own process that leaves the group, noted only once that run ends.
  await waitFor(() => pidsIn(straysFile).length === 2, "the new run's stray");
});

t.test(
  'what a manager that died left behind (the whole tree, and the stray) is ended before the next manager starts the process',
  async (t) => {
    const dir = tempDir();
    const straysFile = path.join(dir, 'strays');
    const stateFile = path.join(dir, 'state.json');
    const pidsFile = path.join(dir, 'pids');
    const args = ['--cmd', FAKE_ES, '--state-file', stateFile];
    const env = { FAKE_ES_SETSID: straysFile, FAKE_ES_PIDS_FILE: pidsFile };
    const first = await startManager({ args, env });
    t.teardown(() => killStrays(straysFile));
    const old = await waitFor(
      () => fs.existsSync(pidsFile) && fs.readFileSync(pidsFile, 'utf8').trim().split(' ').map(Number),
      'the first tree',
    );
    const [stray] = await waitFor(() => pidsIn(straysFile).length > 0 && pidsIn(straysFile), 'the stray');
    t.teardown(() => {
      for (const pid of old) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
    // The manager alone dies (as OOM-killed without the PID-1 helper): its process tree runs on, orphaned.
    process.kill(first.child.pid!, 'SIGKILL');
    await within(first.exited, 'the first manager to exit');
    t.ok([...old, stray].every(isAlive), 'the old tree and the stray outlive it');
    fs.rmSync(pidsFile);

    const second = await startManager({ args, env });
    t.teardown(async () => {
      await stopManager(second);
      killStrays(straysFile);
    });
    await waitFor(() => fs.existsSync(pidsFile), "the second manager's process to start");
    t.notOk([...old, stray].some(isAlive), "the earlier run's processes were ended before");
    const line = second.logs.find((r) => r['event.action'] === 'strays');
    t.match(line, {
      'log.level': 'warn',
      message:
        /processes started by an earlier run of es outside its process group still run \(pids [\d ]+\): ending them before the start$/,
    });
    const starting = second.logs.findIndex((r) => r['process.state'] === 'started');
    t.ok(second.logs.indexOf(line!) < starting, 'before the process was started');
  },
);

t.test("under the PID-1 helper, where the stray is PID 1's child once its parent is gone: the same", async (t) => {
  const dir = tempDir();
  const straysFile = path.join(dir, 'strays');
  const { manager, pid1 } = await startAsPid1(FAKE_ES, [], { env: { FAKE_ES_SETSID: straysFile } });
  t.teardown(() => stopManager(manager));
  const [stray] = await waitFor(
    () => pidsIn(straysFile).length > 0 && pidsIn(straysFile),
    'the process that leaves the group',
  );
  const strayOnHost = await waitFor(() => descendantIn(pid1, stray), 'the stray, seen from the host');
  const stopped = await manager.request('POST', '/es/stop');
  t.ok(stopped.json.strays.includes(stray), `the stop's answer names it (${JSON.stringify(stopped.json.strays)})`);
  t.ok(isAlive(strayOnHost), 'it outlived the stop');
  t.equal(
    processTable().find((entry) => entry.pid === strayOnHost)?.ppid,
    pid1,
    "and is now PID 1's child: no parent chain leads to the manager",
  );
  t.equal((await manager.request('GET', '/health')).json.status, 'degraded');
  t.equal((await manager.request('POST', '/es/start')).status, 202);
  t.notOk(isAlive(strayOnHost), 'ended before the start');
});

/** The host pid of the process that is `nsPid` inside pid1's namespace. */
function descendantIn(pid1: number, nsPid: number): number | undefined {
  return descendants(pid1).find((entry) => {
    try {
      return namespacePid(entry.pid) === nsPid;
    } catch {
      return false;
    }
  })?.pid;
}
