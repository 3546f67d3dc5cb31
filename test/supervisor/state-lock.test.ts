// One manager per state file (issue 19 item 5): the lock is taken before
// anything is written, a second manager exits 78 naming the holder's pid and
// changes nothing, a SIGKILLed holder leaves no stale lock, and a manager that
// cannot listen leaves the state file as it found it.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { FAKE_ES, startManager, stopManager, tempDir, waitFor, type RunningManager } from '../helpers/manager.ts';

const STOPPED = {
  version: 1,
  name: 'es',
  desired: 'stopped',
  state: 'stopping',
  lastExit: null,
  restarts: 2,
  updatedAt: '2026-01-01T00:00:00.000Z',
};

/** What a manager must not have touched: the bytes and the inode (an atomic write replaces it), and no leftovers beside it. */
function snapshot(dir: string) {
  const file = path.join(dir, 'state.json');
  return { bytes: fs.readFileSync(file, 'utf8'), ino: fs.statSync(file).ino, names: fs.readdirSync(dir).sort() };
}

function startOn(dir: string, extra: string[] = []): Promise<RunningManager> {
  return startManager({
    args: ['--cmd', FAKE_ES, '--state-file', path.join(dir, 'state.json'), ...extra],
    env: { FAKE_ES_PIDS_FILE: path.join(dir, 'pids') },
    waitForApi: false,
  });
}

async function outcome(manager: RunningManager): Promise<'listening' | number> {
  return waitFor(
    async () => {
      if (manager.logs.some((r) => r['event.action'] === 'api-listening')) return 'listening' as const;
      if (manager.child.exitCode !== null) return manager.child.exitCode;
      return undefined;
    },
    'the manager to listen or exit',
    30_000,
  );
}

t.test('three managers racing for one state file: one runs, the others exit 78 naming its pid', async (t) => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ ...STOPPED, desired: 'started', state: 'started' }));
  const managers = await Promise.all([startOn(dir), startOn(dir), startOn(dir)]);
  t.teardown(() => Promise.all(managers.map((m) => stopManager(m))));
  const outcomes = await Promise.all(managers.map(outcome));
  const winners = managers.filter((_, i) => outcomes[i] === 'listening');
  t.equal(winners.length, 1, `exactly one runs (${outcomes.join(', ')})`);
  for (const [i, manager] of managers.entries()) {
    if (manager === winners[0]) continue;
    t.equal(outcomes[i], 78);
    const fatal = manager.logs.find((r) => r['event.action'] === 'startup-error');
    t.match(
      fatal?.message,
      new RegExp(
        `^--state-file \\S+state\\.json: another manager \\(pid ${winners[0].child.pid}\\) is using this state file`,
      ),
      'names the holder',
    );
    t.notOk(
      manager.logs.some((r) => r['event.action'] === 'state-change'),
      'started nothing',
    );
  }
  await waitFor(() => fs.existsSync(path.join(dir, 'pids')), 'the one fake ES');
  const status = await (
    await fetch(
      `http://127.0.0.1:${winners[0].logs.find((r) => r['event.action'] === 'api-listening')!['server.port']}/es/status`,
    )
  ).json();
  t.match(status, { state: 'started', restarts: 3 }, 'one start, counted once');
});

t.test(
  'a second manager on a running one exits 78 and changes nothing: no write, no leftover, no moved socket',
  async (t) => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(STOPPED));
    const first = await startOnFakeEs({ dir });
    t.teardown(() => stopManager(first.manager));
    await waitFor(() => fs.existsSync(path.join(dir, 'es.sock')), 'the first manager to serve its socket');
    // The first manager settles the file's 'stopping' to 'stopped' off the event loop: compare with what it wrote.
    await waitFor(
      () => fs.readdirSync(dir).every((name) => !name.endsWith('.tmp')) && readState(dir)?.state === 'stopped',
      'the first manager to write its state',
    );
    const before = snapshot(dir);
    const socketIno = fs.statSync(path.join(dir, 'es.sock')).ino;
    const second = await startOn(dir);
    t.teardown(() => stopManager(second));
    t.equal(await outcome(second), 78);
    t.match(second.logs.at(-1), {
      'event.action': 'startup-error',
      'process.exit_code': 78,
      message: new RegExp(`another manager \\(pid ${first.manager.child.pid}\\)`),
    });
    t.same(snapshot(dir), before, 'the state file and its directory are as they were');
    t.equal(fs.statSync(path.join(dir, 'es.sock')).ino, socketIno, 'the first manager keeps its socket');
    t.equal((await first.manager.status()).state, 'stopped', 'the first manager still answers');
  },
);

t.test('a SIGKILLed holder leaves no stale lock: the next manager takes the file at once', async (t) => {
  const dir = tempDir();
  const first = await startOnFakeEs({ dir });
  const pids = await first.pids();
  first.manager.child.kill('SIGKILL');
  await first.manager.exited;
  for (const pid of pids) process.kill(pid, 'SIGKILL'); // the container's death takes these too
  const again = await startOnFakeEs({ dir });
  t.teardown(() => stopManager(again.manager));
  t.match(await again.manager.status(), { desired: 'started' });
});

t.test('a manager that cannot listen on its port leaves the state file as it found it, corrupt or not', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = String((taken.address() as net.AddressInfo).port);
  for (const content of [JSON.stringify(STOPPED), '{"version":1,"trunc']) {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'state.json'), content);
    const before = snapshot(dir);
    const manager = await startOn(dir, ['--http-port', port]);
    t.teardown(() => stopManager(manager));
    t.equal(await outcome(manager), 78, 'the port is taken: 78');
    t.match(manager.logs.at(-1)?.message, /cannot listen/);
    t.same(
      snapshot(dir),
      before,
      `${content.length > 30 ? 'a valid' : 'a corrupt'} state file untouched, nothing beside it`,
    );
  }
});

t.test(
  'a state file whose directory does not exist yet: the lock is the same before and after the holder creates it',
  async (t) => {
    const dir = path.join(tempDir(), 'not', 'yet');
    const first = await startManager({
      args: ['--cmd', FAKE_ES, '--state-file', path.join(dir, 'state.json')],
      env: { FAKE_ES_PIDS_FILE: path.join(tempDir(), 'pids') },
    });
    t.teardown(() => stopManager(first));
    await waitFor(() => fs.existsSync(path.join(dir, 'state.json')), 'the first manager to write its state file');
    const second = await startOn(dir);
    t.teardown(() => stopManager(second));
    t.equal(await outcome(second), 78, 'the second manager finds the same lock');
  },
);

t.test(
  'a state file whose name is too long for a socket address is locked by its hash: a second manager still exits 78',
  async (t) => {
    const dir = tempDir();
    const stateFile = path.join(dir, `${'s'.repeat(120)}.json`);
    const run = (): Promise<RunningManager> =>
      startManager({
        args: ['--cmd', FAKE_ES, '--state-file', stateFile, '--socket', path.join(dir, 'es.sock')],
        env: { FAKE_ES_PIDS_FILE: path.join(dir, 'pids') },
        waitForApi: false,
      });
    const first = await run();
    t.teardown(() => stopManager(first));
    t.equal(await outcome(first), 'listening');
    const second = await run();
    t.teardown(() => stopManager(second));
    t.equal(await outcome(second), 78);
    t.match(second.logs.at(-1)?.message, new RegExp(`another manager \\(pid ${first.child.pid}\\)`));
  },
);

function readState(dir: string): { state?: string } | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
  } catch {
    return undefined; // not there yet, or being replaced
  }
}
