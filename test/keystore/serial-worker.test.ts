// The serial worker both keystore loops run on, in process: one pass in
// flight, requests meanwhile coalesce into one more, failures retry with
// back-off and a repeated reason is logged once, waits are no failures, and
// nothing runs after close.

import t from 'tap';
import { createSerialWorker, type PassResult, type SerialWorkerOptions } from '../../src/keystore/serial-worker.ts';
import { systemClock } from '../../src/clock/clock.ts';
import type { Logger } from '../../src/log/logger.ts';
import { waitFor } from '../helpers/manager.ts';

interface Line {
  readonly level: string;
  readonly message: string;
}

function recordingLogger(lines: Line[]): Logger {
  const at = (level: string) => (message: string) => void lines.push({ level, message });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), setLevel: () => {} };
}

/** A pass whose every run waits until the test lets it end with a chosen result. */
function controlledPass() {
  const pending: ((result: PassResult) => void)[] = [];
  let runs = 0;
  return {
    pass: () => {
      runs++;
      return new Promise<PassResult>((resolve) => pending.push(resolve));
    },
    runs: () => runs,
    inFlight: () => pending.length,
    async end(result: PassResult) {
      await waitFor(() => pending.length > 0, 'a pass in flight', 5_000, 1);
      pending.shift()!(result);
    },
  };
}

function worker(pass: () => Promise<PassResult>, lines: Line[], overrides: Partial<SerialWorkerOptions> = {}) {
  return createSerialWorker({
    name: 'test work',
    action: 'test',
    log: recordingLogger(lines),
    clock: systemClock,
    pass,
    isRequestRetryingAtOnce: true,
    random: () => 0.5,
    ...overrides,
  });
}

t.test('requests during a pass coalesce into exactly one more pass', async (t) => {
  const control = controlledPass();
  const w = worker(control.pass, []);
  w.request('first');
  t.equal(control.runs(), 1);
  t.ok(w.facts().runningSince, 'runningSince is set while a pass is in flight');
  w.request('second');
  w.request('third');
  w.request('fourth');
  await control.end({ kind: 'done' });
  await control.end({ kind: 'done' });
  await waitFor(() => !w.isRunning(), 'the worker to go idle');
  t.equal(control.runs(), 2, 'three requests during the first pass made one more pass');
  t.equal(w.facts().runningSince, null);
});

t.test('a failure retries with back-off, a repeated reason is logged once, success clears it', async (t) => {
  const control = controlledPass();
  const lines: Line[] = [];
  const w = worker(control.pass, lines);
  t.teardown(() => w.close());
  w.request('first');
  await control.end({ kind: 'failed', reason: 'broken', level: 'error' });
  await waitFor(() => w.facts().nextRetryAt !== null, 'a retry to be scheduled');
  t.match(w.facts(), { error: 'broken', consecutiveFailures: 1, failures: 1 });
  // The retry (1 s) runs by itself.
  await control.end({ kind: 'failed', reason: 'broken', level: 'error' });
  await waitFor(() => w.facts().consecutiveFailures === 2, 'the second failure');
  await control.end({ kind: 'done' });
  await waitFor(() => w.facts().error === null, 'the recovery');
  t.same(
    lines.filter((line) => line.level !== 'debug' || /failed/.test(line.message)).map((line) => line.level),
    ['error', 'debug', 'info'],
    'the first failure at error, its repeat at debug, then "recovered" at info',
  );
  t.match(lines.find((line) => line.level === 'error')?.message, /^test work failed: broken; retrying in 1\.0 s$/);
  t.match(w.facts(), { consecutiveFailures: 0, failures: 2, nextRetryAt: null });
});

t.test('isRequestRetryingAtOnce: a request during the back-off runs at once, or waits for the retry', async (t) => {
  for (const isRequestRetryingAtOnce of [true, false]) {
    const control = controlledPass();
    const w = worker(control.pass, [], { isRequestRetryingAtOnce });
    w.request('first');
    await control.end({ kind: 'failed', reason: 'down', level: 'warn' });
    await waitFor(() => !w.isRunning() && w.facts().nextRetryAt !== null, 'the back-off');
    w.request('an event');
    t.equal(control.runs(), isRequestRetryingAtOnce ? 2 : 1, `isRequestRetryingAtOnce ${isRequestRetryingAtOnce}`);
    if (isRequestRetryingAtOnce) {
      t.equal(w.facts().nextRetryAt, null, 'the scheduled retry was replaced by the pass');
      await control.end({ kind: 'done' });
    }
    await w.close();
  }
});

t.test('wait: looked at again later, without counting a failure', async (t) => {
  const control = controlledPass();
  const w = worker(control.pass, [], { isRequestRetryingAtOnce: false });
  t.teardown(() => w.close());
  w.request('first');
  await control.end({ kind: 'wait', ms: 10 });
  await control.end({ kind: 'done' });
  await waitFor(() => !w.isRunning() && control.runs() === 2, 'the pass after the wait');
  t.match(w.facts(), { error: null, consecutiveFailures: 0, failures: 0, nextRetryAt: null });
});

t.test('again: one more pass at once; a throwing pass is a failure', async (t) => {
  let runs = 0;
  const w = worker(async () => {
    runs++;
    if (runs === 1) return { kind: 'again' };
    throw new Error('boom');
  }, []);
  t.teardown(() => w.close());
  w.request('first');
  await waitFor(() => w.facts().error !== null, 'the failure');
  t.equal(runs, 2);
  t.equal(w.facts().error, 'internal error: boom');
});

t.test('close: waits for the pass in flight, and no pass or retry runs after it', async (t) => {
  const control = controlledPass();
  const w = worker(control.pass, []);
  w.request('first');
  let isClosed = false;
  const closing = w.close().then(() => (isClosed = true));
  w.request('after close');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(isClosed, false, 'close waits for the pass in flight');
  await control.end({ kind: 'failed', reason: 'x', level: 'error' });
  await closing;
  t.equal(control.runs(), 1, 'the request after close ran nothing');
  t.equal(w.facts().nextRetryAt, null, 'no retry is scheduled after close');
});
