// The state file under a disk that misbehaves: full (issue 19 item 4), and
// slow (issue 23 item 2). An operator's stop reaches the disk once it has
// room, the answer says when it has not, and a slow fsync never holds up
// /health.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { EXECUTABLE, FAKE_ES, startManager, stopManager, tempDir, waitFor } from '../helpers/manager.ts';

/** Fills the file system holding dir until it refuses a byte. */
function fill(dir: string): void {
  const filler = path.join(dir, 'filler');
  const chunk = Buffer.alloc(64 * 1024);
  const fd = fs.openSync(filler, 'w');
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    fs.closeSync(fd);
  }
}

t.test(
  'a stop while the disk is full: answered with a warning, retried until on disk; a restarted manager does not start ES',
  async (t) => {
    const dir = tempDir('pm-enospc-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0755', 'pm-enospc', dir]);
    const managers: { manager: Parameters<typeof stopManager>[0] }[] = [];
    t.teardown(async () => {
      await Promise.all(managers.map((run) => stopManager(run.manager)));
      execFileSync('umount', ['-l', dir]);
    });
    const run = await startOnFakeEs({ dir });
    managers.push(run);
    await run.pids();
    t.equal((await run.manager.request('GET', '/health')).json.status, 'ok');

    fill(dir);
    t.throws(() => fs.writeFileSync(path.join(dir, 'probe'), 'x'), { code: 'ENOSPC' }, 'the disk is full');
    fs.rmSync(path.join(dir, 'probe'), { force: true });
    const stop = await run.manager.request('POST', '/es/stop');
    t.equal(stop.status, 200, 'the stop itself works');
    t.match(stop.json, {
      state: 'stopped',
      desired: 'stopped',
      warnings: [
        /^the state file cannot be written \(ENOSPC\): a container restart now would not know this stop; retrying until it is written$/,
      ],
    });
    t.match(JSON.parse(fs.readFileSync(run.stateFile, 'utf8')), { desired: 'started' }, 'not on disk yet');
    const degraded = await run.manager.request('GET', '/health');
    t.match(degraded.json, { status: 'degraded', reasons: [/^the state file cannot be written \(ENOSPC\)/] });
    const ctl = spawnSync(EXECUTABLE, ['ctl', '--state-file', run.stateFile, 'stop'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    t.equal(ctl.status, 0, 'ctl stop succeeds');
    t.match(ctl.stdout, /^es stopped/);
    t.match(
      ctl.stderr,
      /^process-manager ctl: warning: the state file cannot be written \(ENOSPC\): a container restart now would not know this stop/,
      'and warns on stderr',
    );

    fs.rmSync(path.join(dir, 'filler'));
    await waitFor(
      async () => (await run.manager.request('GET', '/health')).json.status === 'ok',
      '/health ok again once the disk has room',
      60_000,
    );
    t.match(
      JSON.parse(fs.readFileSync(run.stateFile, 'utf8')),
      { desired: 'stopped', state: 'stopped' },
      'the stop is on disk',
    );
    t.ok(
      run.manager.logs.some((r) => /^the state file is written again, after \d+ failed attempts$/.test(r.message)),
      'logged when it recovers',
    );
    t.same(
      fs.readdirSync(dir).filter((name) => name.endsWith('.tmp')),
      [],
      'no temporary file left by the failed attempts',
    );
    t.equal(
      (await run.manager.request('POST', '/es/stop')).json.warnings,
      undefined,
      'a stop on disk carries no warning',
    );

    await stopManager(run.manager);
    fs.rmSync(run.pidsFile);
    const again = await startOnFakeEs({ dir });
    managers.push(again);
    t.match(
      await again.manager.status(),
      { state: 'stopped', desired: 'stopped' },
      'the container restart remembers the stop',
    );
    t.notOk(fs.existsSync(again.pidsFile), 'ES was not started');
  },
);

t.test(
  'a slow fsync (2 s, strace) never holds up /health: the stop waits for its write, /health does not',
  async (t) => {
    const dir = tempDir();
    const stateFile = path.join(dir, 'state.json');
    const pidsFile = path.join(dir, 'pids');
    const manager = await startManager({
      wrapper: [
        'strace',
        '-f',
        '-qq',
        '-o',
        '/dev/null',
        '-e',
        'trace=fsync,fdatasync',
        '-e',
        'inject=fsync,fdatasync:delay_exit=2000000',
      ],
      args: ['--cmd', FAKE_ES, '--state-file', stateFile],
      env: { FAKE_ES_PIDS_FILE: pidsFile },
    });
    // strace is the child; the manager is its child, and the one to ask to end.
    const managerPid = await waitFor(
      () =>
        Number(
          fs.readFileSync(`/proc/${manager.child.pid}/task/${manager.child.pid}/children`, 'utf8').trim().split(' ')[0],
        ),
      'the manager under strace',
    );
    manager.terminate = () => process.kill(managerPid, 'SIGTERM');
    t.teardown(() => stopManager(manager, 60_000));
    await waitFor(() => fs.existsSync(pidsFile), 'ES to start', 60_000);
    await waitFor(
      () => fs.existsSync(stateFile) && JSON.parse(fs.readFileSync(stateFile, 'utf8')).state === 'started',
      'the start on disk',
      60_000,
    );

    const began = performance.now();
    let stopAnswered = false;
    const stop = manager.request('POST', '/es/stop').finally(() => (stopAnswered = true));
    const latencies: number[] = [];
    const statuses = new Set<number>();
    while (!stopAnswered) {
      const asked = performance.now();
      statuses.add((await manager.request('GET', '/health')).status);
      latencies.push(performance.now() - asked);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.same([...statuses], [200], 'every /health answered 200');
    const answer = await stop;
    const stopMs = performance.now() - began;
    t.match(answer.json, { state: 'stopped' });
    t.equal(answer.json.warnings, undefined, 'slow is not failed: no warning');
    t.ok(stopMs >= 2_000, `the stop waited for its fsync (${Math.round(stopMs)} ms): the delay was in force`);
    t.match(
      JSON.parse(fs.readFileSync(stateFile, 'utf8')),
      { desired: 'stopped', state: 'stopped' },
      'and the stop was on disk when it answered',
    );
    const slowest = Math.max(...latencies);
    t.ok(latencies.length >= 5, `/health answered ${latencies.length} times during the stop`);
    t.ok(slowest < 1_000, `the slowest /health took ${Math.round(slowest)} ms, while each fsync takes 2000`);
  },
);
