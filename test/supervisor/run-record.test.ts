// The state machine's one choke point and the run record, on their own: a
// move from a state the caller did not expect is a bug that must throw, not
// a state that drifts unseen; the first cause to end a run wins, but a kill
// overtakes the stop it escalates.

import t from 'tap';
import { claimEnd, createRun } from '../../src/supervisor/run-record.ts';
import { createStateMachine } from '../../src/supervisor/state-machine.ts';
import { createFakeSystem } from '../helpers/fake-system.ts';

function machine() {
  const fake = createFakeSystem();
  let changes = 0;
  const states = createStateMachine({
    name: 'es',
    log: fake.log,
    clock: fake.system.clock,
    pid: () => 42,
    changed: () => changes++,
  });
  return { fake, states, changes: () => changes };
}

t.test('a transition names the state it leaves; another state is a bug and nothing moves', async (t) => {
  const { fake, states, changes } = machine();
  t.throws(() => states.transition('started', 'stop', 'stop'), /bug: stop expected started but found notStarted/);
  t.equal(states.current(), 'notStarted');
  t.equal(changes(), 0, 'nothing persisted');
  states.transition(['notStarted', 'stopped'], 'start', 'boot');
  t.equal(states.current(), 'starting');
  t.equal(changes(), 1);
  t.match(fake.log.records.at(-1), {
    message: 'es notStarted -> starting: boot',
    fields: { 'process.pid': 42, 'process.state': 'starting' },
  });
  t.throws(() => states.transition('starting', 'stop', 'stop'), /bug: no transition from starting on stop/);
});

t.test('restore: only before the first move, and not persisted', async (t) => {
  const { states, changes } = machine();
  states.restore('stopped');
  t.equal(states.current(), 'stopped');
  t.equal(changes(), 0);
  states.transition('stopped', 'start', 'start requested');
  t.throws(() => states.restore('killed'), /bug: restoring killed after the state already moved to starting/);
});

t.test('the first cause wins; a kill overtakes', async (t) => {
  const run = createRun({ pid: 7, exited: new Promise(() => {}) }, '2026-01-01T00:00:00.000Z');
  t.equal(run.cause, null, 'a new run has no cause: it dies unasked unless someone asks');
  claimEnd(run, 'restart');
  claimEnd(run, 'shutdown');
  t.equal(run.cause, 'restart');
  claimEnd(run, 'kill');
  t.equal(run.cause, 'kill');
});
