// The supervisor's transition paths in process, on fakes for spawn, signals,
// the group probe, the state file and the clock (test/helpers/fake-system.ts):
// each case takes milliseconds, so orderings that would cost a real stop
// timeout (a kill during a stop, the back-off's growth) are cheap to pin down.

import t from 'tap';
import type { Config } from '../../src/config/config.ts';
import type { ReadResult } from '../../src/supervisor/state-file.ts';
import { END_STATE_AT_BOOT, STATES } from '../../src/supervisor/states.ts';
import { StartBlockedError, createSupervisor } from '../../src/supervisor/supervisor.ts';
import { createFakeSystem, settle, supervisorConfig } from '../helpers/fake-system.ts';

function setup(options: { config?: Partial<Config>; stored?: ReadResult } = {}) {
  const fake = createFakeSystem(options.stored);
  const exitRequests: number[] = [];
  const supervisor = createSupervisor(supervisorConfig(options.config), {
    log: fake.log,
    onExitRequested: (status) => exitRequests.push(status),
    system: fake.system,
  });
  // What main.ts does once the manager is sure to run; the boot tests restore first.
  if (!options.stored) supervisor.takeOverStateFile();
  return { fake, supervisor, exitRequests };
}

async function running(options: Parameters<typeof setup>[0] = {}) {
  const run = setup(options);
  run.supervisor.restoreFromStateFile();
  await run.supervisor.start('boot');
  return run;
}

/** Whether a promise has settled yet, without waiting for it. */
function track<T>(promise: Promise<T>) {
  const tracked = { settled: false, value: undefined as T | undefined };
  void promise.then((value) => Object.assign(tracked, { settled: true, value }));
  return tracked;
}

const sent = (fake: ReturnType<typeof createFakeSystem>) => fake.signals.map((s) => `${s.signal} ${s.kind} ${s.pid}`);

t.test('start: notStarted -> starting -> started, each state persisted, the command spawned once', async (t) => {
  const { fake, supervisor } = setup();
  t.equal(supervisor.restoreFromStateFile(), true, 'no state file: start at boot');
  t.same(await supervisor.start('boot'), { kind: 'started' });
  t.same(fake.spawnCalls, [['/fake/elasticsearch', '-Ea=b']]);
  t.match(supervisor.status(), {
    name: 'es',
    state: 'started',
    pid: 1000,
    restarts: 0,
    desired: 'started',
    lastExit: null,
    startedAt: '2026-01-01T00:00:00.000Z',
  });
  t.same(
    fake.writes.map((w) => w.state),
    ['starting', 'started'],
  );
  t.same(await supervisor.start(), { kind: 'alreadyRunning' }, 'a second start finds it running');
  t.equal(fake.processes.length, 1);
});

t.test('two starts at once give one process', async (t) => {
  const { fake, supervisor } = setup();
  const outcomes = await Promise.all([supervisor.start(), supervisor.start()]);
  t.same(outcomes.map((o) => o.kind).sort(), ['alreadyRunning', 'started']);
  t.equal(fake.processes.length, 1);
});

for (const scope of ['group', 'process'] as const) {
  t.test(
    `stop (--stop-scope ${scope}): SIGTERM and SIGCONT to the ${scope}, stopped once the group is gone`,
    async (t) => {
      const { fake, supervisor } = await running({ config: { stopScope: scope } });
      await supervisor.stop();
      t.same(sent(fake), [`SIGTERM ${scope} 1000`, `SIGCONT ${scope} 1000`]);
      t.match(supervisor.status(), {
        state: 'stopped',
        pid: null,
        desired: 'stopped',
        lastExit: { code: 143, signal: null },
      });
      t.same(supervisor.counters.exits, { stop: 1, kill: 0, restart: 0, shutdown: 0, unexpected: 0 });
      t.match(fake.writes.at(-1), { state: 'stopped', desired: 'stopped', lastExit: { code: 143 } });
      t.same(fake.clock.pendingTimers(), [], 'the stop timeout is cancelled');
      await supervisor.stop();
      t.equal(fake.signals.length, 2, 'a stop while stopped sends nothing');
    },
  );
}

t.test('stop of a process that ignores SIGTERM: SIGKILL to the group exactly at --stop-timeout', async (t) => {
  const { fake, supervisor } = await running({ config: { stopTimeoutMs: 5_000 } });
  fake.processes[0]!.onTerm = 'ignore';
  const stop = track(supervisor.stop());
  await fake.clock.advance(4_999);
  t.notOk(stop.settled, 'still waiting 1 ms before the timeout');
  t.equal(supervisor.status().state, 'stopping');
  await fake.clock.advance(1);
  t.ok(stop.settled);
  t.same(sent(fake), ['SIGTERM group 1000', 'SIGCONT group 1000', 'SIGKILL group 1000']);
  t.match(fake.signals[2], { reason: 'still running 5000 ms after SIGTERM' });
  t.match(supervisor.status(), { state: 'stopped', lastExit: { code: null, signal: 'SIGKILL' } });
});

t.test('stop of a SIGSTOPped process: SIGCONT lets it run its TERM handler, no timeout needed', async (t) => {
  const { fake, supervisor } = await running();
  fake.processes[0]!.isStopped = true;
  const stop = track(supervisor.stop());
  await settle();
  t.ok(stop.settled, 'answered without the clock moving');
  t.match(supervisor.status(), { state: 'stopped', lastExit: { code: 143, signal: null } });
  t.notOk(
    fake.signals.some((s) => s.signal === 'SIGKILL'),
    'never SIGKILLed',
  );
});

t.test(
  'a child that outlives the main process is SIGKILLed at once, and stop answers only when it is gone',
  async (t) => {
    const { fake, supervisor } = await running();
    fake.processes[0]!.hasResilientChild = true;
    const stop = track(supervisor.stop());
    await settle();
    t.notOk(stop.settled, 'not while the child runs');
    await fake.clock.advance(10); // one poll of the group
    t.ok(stop.settled);
    t.same(sent(fake), ['SIGTERM group 1000', 'SIGCONT group 1000', 'SIGKILL group 1000']);
    t.match(fake.signals[2], { reason: 'left in the group after the main process exited' });
    t.same(fake.system.livingGroupMembers(1000), []);
    t.equal(supervisor.status().state, 'stopped');
  },
);

t.test('leftovers that survive SIGKILL (uninterruptible sleep): reported after 10 s, and the stop ends', async (t) => {
  const { fake, supervisor } = await running();
  fake.system.livingGroupMembers = () => [1001];
  const stop = track(supervisor.stop());
  await fake.clock.advance(9_990);
  t.notOk(stop.settled);
  await fake.clock.advance(30);
  t.ok(stop.settled);
  t.ok(fake.log.records.some((r) => r.level === 'error' && /survive SIGKILL: 1001/.test(r.message)));
  t.equal(supervisor.status().state, 'stopped');
});

t.test(
  'kill during a stop escalates it at once: stopping -> killing -> killed, both answer when the group is gone',
  async (t) => {
    const { fake, supervisor } = await running({ config: { stopTimeoutMs: 60_000 } });
    fake.processes[0]!.onTerm = 'ignore';
    const stop = track(supervisor.stop());
    await settle();
    t.equal(supervisor.status().state, 'stopping');
    const kill = track(supervisor.kill());
    t.equal(supervisor.status().state, 'killing', 'no queueing behind the stop');
    await settle();
    t.ok(stop.settled, 'the stop answered without the clock moving');
    t.ok(kill.settled, 'so did the kill');
    t.same(sent(fake), ['SIGTERM group 1000', 'SIGCONT group 1000', 'SIGKILL group 1000']);
    t.match(supervisor.status(), { state: 'killed', desired: 'stopped', lastExit: { code: null, signal: 'SIGKILL' } });
    t.same(supervisor.counters.exits, { stop: 0, kill: 1, restart: 0, shutdown: 0, unexpected: 0 });
    t.same(fake.clock.pendingTimers(), [], 'the stop timeout is gone with it');
    t.same(
      fake.log.records.filter((r) => r.fields['event.action'] === 'state-change').map((r) => r.fields['process.state']),
      ['starting', 'started', 'stopping', 'killing', 'killed'],
    );
  },
);

t.test('kill during a stop whose process has exited but whose group lingers: killed at once', async (t) => {
  const { fake, supervisor } = await running();
  fake.processes[0]!.hasResilientChild = true;
  fake.system.livingGroupMembers = () => [1001]; // survives clearGroup's SIGKILL until the kill below
  const stop = track(supervisor.stop());
  await settle();
  t.equal(supervisor.status().state, 'stopping');
  const kill = track(supervisor.kill());
  fake.system.livingGroupMembers = () => [];
  await fake.clock.advance(10);
  t.ok(stop.settled && kill.settled);
  t.match(supervisor.status(), { state: 'killed', desired: 'stopped', lastExit: { code: 143 } });
});

t.test('kill during a restart: the restart does not start the process again', async (t) => {
  const { fake, supervisor } = await running({ config: { stopTimeoutMs: 60_000 } });
  fake.processes[0]!.onTerm = 'ignore';
  const restart = track(supervisor.restart());
  await settle();
  const kill = track(supervisor.kill());
  await settle();
  t.ok(restart.settled && kill.settled, 'both answered without the clock moving');
  t.same(restart.value, { kind: 'killedDuringRestart' });
  t.equal(fake.processes.length, 1, 'nothing was spawned again');
  t.match(supervisor.status(), { state: 'killed', desired: 'stopped' });
});

t.test('kill during a stop, with a start queued after the stop: the kill still ends what the start made', async (t) => {
  const { fake, supervisor } = await running();
  fake.processes[0]!.onTerm = 'ignore';
  const stop = supervisor.stop();
  const start = supervisor.start();
  await settle();
  const kill = track(supervisor.kill());
  await settle();
  t.ok(kill.settled, 'without waiting out the stop timeout');
  await Promise.all([stop, start]);
  t.equal(fake.processes.length, 2, 'the queued start ran');
  t.notOk(fake.processes[1]!.isRunning, 'and the kill, queued after it, ended it');
  t.match(supervisor.status(), { state: 'killed', desired: 'stopped' });
});

t.test(
  'kill while started: SIGKILL to the group; while stopped: nothing; while starting: after the start',
  async (t) => {
    const { fake, supervisor } = await running();
    await supervisor.kill();
    t.same(sent(fake), ['SIGKILL group 1000']);
    t.match(supervisor.status(), { state: 'killed', desired: 'stopped', lastExit: { signal: 'SIGKILL' } });
    await supervisor.kill();
    t.equal(fake.signals.length, 1, 'kill while killed sends nothing');

    const release = fake.holdSpawns();
    const start = track(supervisor.start());
    await settle();
    t.equal(supervisor.status().state, 'starting');
    const kill = track(supervisor.kill());
    await settle();
    t.equal(supervisor.status().state, 'starting', 'the kill waits for the start, as before');
    t.notOk(kill.settled);
    release();
    await settle();
    t.ok(start.settled && kill.settled);
    t.same(sent(fake), ['SIGKILL group 1000', 'SIGKILL group 1010']);
    t.match(supervisor.status(), { state: 'killed', desired: 'stopped' });
  },
);

t.test('stop while starting: ends stopped', async (t) => {
  const { fake, supervisor } = setup();
  const release = fake.holdSpawns();
  const start = supervisor.start();
  const stop = supervisor.stop();
  release();
  await Promise.all([start, stop]);
  t.match(supervisor.status(), { state: 'stopped', desired: 'stopped' });
  t.notOk(fake.processes[0]!.isRunning);
});

t.test('restart: stop, then a new process; restarts counts it', async (t) => {
  const { fake, supervisor } = await running();
  t.same(await supervisor.restart(), { kind: 'started' });
  t.same(sent(fake), ['SIGTERM group 1000', 'SIGCONT group 1000']);
  t.match(supervisor.status(), {
    state: 'started',
    pid: 1010,
    restarts: 1,
    desired: 'started',
    lastExit: { code: 143 },
  });
  t.same(supervisor.counters.exits.restart, 1);
  t.same(await supervisor.restart(), { kind: 'started' });
  t.equal(supervisor.status().restarts, 2);
});

t.test('restart of a stopped process just starts it', async (t) => {
  const { fake, supervisor } = await running();
  await supervisor.stop();
  t.same(await supervisor.restart(), { kind: 'started' });
  t.equal(fake.signals.length, 2, 'only the stop signalled');
  t.match(supervisor.status(), { state: 'started', desired: 'started' });
});

for (const [exit, status] of [
  [{ code: 3, signal: null }, 3],
  [{ code: 0, signal: null }, 0],
  [{ code: null, signal: 'SIGKILL' }, 137],
  [{ code: null, signal: 'SIGSEGV' }, 139],
] as const) {
  t.test(
    `crash with --on-exit exit (${exit.code ?? exit.signal}): exited, and the manager is asked to exit ${status}`,
    async (t) => {
      const { fake, supervisor, exitRequests } = await running();
      fake.processes[0]!.exit(exit);
      await settle();
      t.same(exitRequests, [status]);
      t.match(supervisor.status(), { state: 'exited', pid: null, desired: 'started', lastExit: exit });
      t.equal(supervisor.counters.exits.unexpected, 1);
      t.same(fake.clock.pendingTimers(), [], 'no restart scheduled');
    },
  );
}

t.test('crash with a resilient child: the group is cleared before the state says exited', async (t) => {
  const { fake, supervisor } = await running();
  fake.processes[0]!.hasResilientChild = true;
  fake.processes[0]!.exit({ code: 1, signal: null });
  await settle();
  t.equal(supervisor.status().state, 'started', 'not exited while its child runs');
  await fake.clock.advance(10);
  t.same(sent(fake), ['SIGKILL group 1000']);
  t.equal(supervisor.status().state, 'exited');
});

t.test('crash with --on-exit restart: restarted after 1 s, not before', async (t) => {
  const { fake, supervisor, exitRequests } = await running({ config: { onExit: 'restart' } });
  fake.processes[0]!.exit({ code: 1, signal: null });
  await settle();
  t.equal(supervisor.status().state, 'exited');
  t.same(fake.clock.pendingTimers(), [1_000]);
  await fake.clock.advance(999);
  t.equal(fake.processes.length, 1);
  await fake.clock.advance(1);
  t.equal(fake.processes.length, 2);
  t.match(supervisor.status(), { state: 'started', pid: 1010, restarts: 1 });
  t.same(exitRequests, []);
});

t.test('back-off: 1 s doubling to 60 s while it crashes at once; a run longer than 60 s resets it', async (t) => {
  const { fake, supervisor } = await running({ config: { onExit: 'restart' } });
  const waits: number[] = [];
  const crashAndWait = async (ranMs: number) => {
    await fake.clock.advance(ranMs);
    fake.processes.at(-1)!.exit({ code: 1, signal: null });
    await settle();
    const [wait] = fake.clock.pendingTimers();
    waits.push(wait!);
    await fake.clock.advance(wait!);
    t.equal(supervisor.status().state, 'started');
  };
  for (let i = 0; i < 9; i++) await crashAndWait(0);
  t.same(waits, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  await crashAndWait(60_001);
  t.equal(waits.at(-1), 1_000, 'reset after a healthy run');
  await crashAndWait(0);
  t.equal(waits.at(-1), 2_000);
  t.ok(
    fake.log.records.some(
      (r) => r.fields['event.action'] === 'restart-scheduled' && r.message === 'restarting es in 60000 ms',
    ),
  );
});

t.test('a stop during the back-off cancels the restart', async (t) => {
  const { fake, supervisor } = await running({ config: { onExit: 'restart' } });
  fake.processes[0]!.exit({ code: 1, signal: null });
  await settle();
  await supervisor.stop();
  t.same(fake.clock.pendingTimers(), []);
  await fake.clock.advance(120_000);
  t.equal(fake.processes.length, 1);
  t.match(supervisor.status(), { state: 'exited', desired: 'stopped' });
});

t.test('spawn failure: starting -> failed with the reason; a later start tries again', async (t) => {
  const { fake, supervisor } = setup();
  fake.spawnFailures.push('ENOENT');
  t.same(await supervisor.start(), { kind: 'spawnFailed', reason: 'cannot run --cmd: ENOENT (fake)' });
  t.match(supervisor.status(), { state: 'failed', pid: null, desired: 'started' });
  t.same(supervisor.counters, {
    starts: 1,
    spawnFailures: 1,
    exits: { stop: 0, kill: 0, restart: 0, shutdown: 0, unexpected: 0 },
  });
  t.ok(fake.log.records.some((r) => r.level === 'error' && r.fields['error.code'] === 'ENOENT'));
  t.same(await supervisor.start(), { kind: 'started' });
  t.match(supervisor.status(), { state: 'started', restarts: 1 });
});

t.test('held starts are refused with the reason', async (t) => {
  const { fake, supervisor } = setup();
  supervisor.holdStartsWhile(() => 'the certificate is awaited');
  await t.rejects(supervisor.start(), new StartBlockedError('the certificate is awaited'));
  t.equal(fake.spawnCalls.length, 0);
});

for (const stored of STATES) {
  for (const desired of ['started', 'stopped'] as const) {
    t.test(`boot from a state file saying ${stored}, desired ${desired}`, async (t) => {
      const lastExit = { code: 143, signal: null, at: '2025-12-31T00:00:00.000Z' };
      const state = {
        version: 1,
        name: 'es',
        desired,
        state: stored,
        lastExit,
        restarts: 4,
        updatedAt: '2025-12-31T00:00:00.000Z',
      } as const;
      const { fake, supervisor } = setup({ stored: { kind: 'valid', state } });
      const resolved = END_STATE_AT_BOOT[stored] ?? stored;
      t.equal(
        supervisor.restoreFromStateFile(),
        desired === 'started',
        desired === 'started' ? 'starts' : 'stays down',
      );
      t.same(fake.writes, [], 'nothing is written before the manager takes the file over');
      supervisor.takeOverStateFile();
      t.match(supervisor.status(), {
        state: resolved,
        desired,
        restarts: 4,
        lastExit,
        pid: null,
        since: '2026-01-01T00:00:00.000Z',
      });
      t.match(fake.writes, [{ state: resolved, desired }], 'the resolved state is written back at once');
      if (desired === 'started') {
        await supervisor.start('boot');
        t.match(supervisor.status(), { state: 'started', restarts: 5 }, 'a start after a container restart counts');
      } else {
        t.ok(fake.log.records.some((r) => /stays .*: it was stopped through the API/.test(r.message)));
      }
    });
  }
}

t.test('boot from a corrupt state file: warned, treated as absent', async (t) => {
  const { fake, supervisor } = setup({ stored: { kind: 'corrupt', reason: 'invalid state file: not a JSON object' } });
  t.equal(supervisor.restoreFromStateFile(), true);
  t.match(supervisor.status(), { state: 'notStarted', desired: 'started', restarts: 0 });
  supervisor.takeOverStateFile();
  t.ok(fake.log.records.some((r) => r.level === 'warn' && r.fields['file.path'] === '/fake/es.state.json.corrupt-x'));
  await supervisor.start('boot');
  t.equal(supervisor.status().restarts, 0, 'the first start is not a restart');
});

t.test('a state file that cannot be written is logged; the process is supervised all the same', async (t) => {
  const { fake, supervisor } = setup();
  fake.stateWriteError = new Error('EROFS: read-only file system');
  await supervisor.start();
  t.equal(supervisor.status().state, 'started');
  t.ok(fake.log.records.some((r) => r.level === 'error' && /cannot write the state file: EROFS/.test(r.message)));
});

t.test(
  'a stop the disk cannot take is retried with back-off until it is on disk, and a new state is tried at once',
  async (t) => {
    const { fake, supervisor } = await running();
    fake.stateWriteError = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    await supervisor.stop();
    t.equal(await supervisor.stateSaved(1_000), 'failed', 'the stop is not on disk');
    t.equal(supervisor.stateFileError(), 'ENOSPC');
    const tried = fake.failedWrites;
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const pending = fake.clock.pendingTimers();
      t.equal(pending.length, 1, 'one retry pending');
      waits.push(pending[0]);
      await fake.clock.advance(pending[0]);
    }
    t.ok(waits[0] >= 250 && waits[0] <= 1_000, `the first retry soon (${waits[0]} ms)`);
    t.same(
      waits.slice(1),
      waits.slice(0, -1).map((wait) => Math.min(wait * 2, 10_000)),
      `each wait doubles, up to 10 s: ${waits.join(' ')}`,
    );
    t.equal(waits.at(-1), 10_000);
    t.equal(fake.failedWrites, tried + 8, 'one attempt per wait');
    t.equal(
      fake.log.records.filter((r) => /cannot write the state file/.test(r.message)).length,
      1,
      'logged once, not once per retry',
    );
    fake.stateWriteError = null;
    const saved = supervisor.flushState(60_000);
    await fake.clock.advance(10_000);
    t.equal(await saved, true, 'on disk once the disk takes it');
    t.match(fake.writes.at(-1), { desired: 'stopped', state: 'stopped' });
    t.equal(supervisor.stateFileError(), null);
    t.same(fake.clock.pendingTimers(), [], 'no more retries');
    t.ok(
      fake.log.records.some(
        (r) => r.level === 'info' && /the state file is written again, after \d+ failed attempts/.test(r.message),
      ),
    );

    fake.stateWriteError = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    await supervisor.start();
    await fake.clock.advance(1_000);
    fake.stateWriteError = null;
    await supervisor.stop();
    t.equal(
      await supervisor.stateSaved(1_000),
      'saved',
      'a new state goes to disk at once, without waiting out the back-off',
    );
    t.match(fake.writes.at(-1), { desired: 'stopped', state: 'stopped' });
  },
);

t.test('writes coalesce: states saved while one is written go to disk as one write of the latest', async (t) => {
  const { fake, supervisor } = setup();
  let release = (): void => {};
  const write = fake.system.stateStore.write;
  let calls = 0;
  fake.system.stateStore.write = async (state) => {
    calls++;
    if (calls === 1) await new Promise<void>((resolve) => (release = resolve));
    return write(state);
  };
  await supervisor.start('boot');
  await supervisor.stop();
  t.equal(calls, 1, 'the first write is still under way');
  release();
  t.equal(await supervisor.flushState(1_000), true);
  t.same(
    fake.writes.map((w) => w.state),
    ['starting', 'stopped'],
    'the states in between were never written on their own',
  );
});

t.test(
  'shutdown: stops with --shutdown-timeout and resolves to the process status; starts are refused after',
  async (t) => {
    const { fake, supervisor, exitRequests } = await running({
      config: { stopTimeoutMs: 1_000, shutdownTimeoutMs: 25_000 },
    });
    fake.processes[0]!.onTerm = 'ignore';
    const shutdown = track(supervisor.shutdown());
    t.ok(supervisor.isShuttingDown());
    await fake.clock.advance(24_999);
    t.notOk(shutdown.settled, '--stop-timeout does not apply');
    await fake.clock.advance(1);
    t.equal(shutdown.value, 137);
    t.equal(supervisor.counters.exits.shutdown, 1);
    t.same(exitRequests, [], 'the shutdown, not the exit handler, says how the manager exits');
    t.match(
      supervisor.status(),
      { state: 'stopped', desired: 'started' },
      'the intent survives for the next container',
    );
    await t.rejects(supervisor.start(), new StartBlockedError('the manager is shutting down'));
  },
);

t.test('shutdown with a graceful process: 143; with none running: 0', async (t) => {
  t.equal(await (await running()).supervisor.shutdown(), 143);
  const idle = setup();
  t.equal(await idle.supervisor.shutdown(), 0);
  const stopped = await running();
  await stopped.supervisor.stop();
  t.equal(await stopped.supervisor.shutdown(), 0, 'stopped through the API before: 0');
});

t.test('shutdown during the back-off: no restart, exit 0', async (t) => {
  const { fake, supervisor } = await running({ config: { onExit: 'restart' } });
  fake.processes[0]!.exit({ code: 1, signal: null });
  await settle();
  t.equal(await supervisor.shutdown(), 0);
  await fake.clock.advance(120_000);
  t.equal(fake.processes.length, 1);
});

t.test('a crash during shutdown does not ask the manager to exit a second time', async (t) => {
  const { fake, supervisor, exitRequests } = await running();
  fake.processes[0]!.onTerm = 'ignore';
  const shutdown = supervisor.shutdown();
  await settle();
  fake.processes[0]!.exit({ code: 1, signal: null });
  t.equal(await shutdown, 1);
  t.same(exitRequests, []);
});

t.test('killNow during a shutdown: SIGKILL to the group without waiting', async (t) => {
  const { fake, supervisor } = await running();
  fake.processes[0]!.onTerm = 'ignore';
  const shutdown = supervisor.shutdown();
  await settle();
  supervisor.killNow();
  t.equal(await shutdown, 137);
  t.match(fake.signals.at(-1), {
    signal: 'SIGKILL',
    kind: 'group',
    reason: 'second termination signal to the manager',
  });
});

t.test('forwarded signals go to the main process only, and nowhere when nothing runs', async (t) => {
  const { fake, supervisor } = await running();
  supervisor.forwardSignal('SIGQUIT');
  t.same(sent(fake), ['SIGQUIT process 1000']);
  await supervisor.kill();
  supervisor.forwardSignal('SIGQUIT');
  t.equal(fake.signals.filter((s) => s.signal === 'SIGQUIT').length, 1);
});
