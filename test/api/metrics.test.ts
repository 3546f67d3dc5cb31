// GET /metrics parses as Prometheus text, and its counters follow the process.

import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { stopManager } from '../helpers/manager.ts';

type Samples = Map<string, number>;

/** A strict reader of the text exposition format: every line is a comment or `name{labels} value`. */
function parsePrometheus(text: string): Samples {
  const samples: Samples = new Map();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (comment) {
      if (comment[1] === 'TYPE') {
        if (!['counter', 'gauge'].includes(comment[3])) throw new Error(`unknown type: ${line}`);
        typed.add(comment[2]);
      }
      continue;
    }
    const sample =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN)$/.exec(
        line,
      );
    if (!sample) throw new Error(`not a Prometheus sample: ${JSON.stringify(line)}`);
    if (!typed.has(sample[1])) throw new Error(`sample before its TYPE line: ${line}`);
    samples.set(sample[1] + (sample[2] ?? ''), Number(sample[3]));
  }
  return samples;
}

t.test('the reader above rejects what is not Prometheus text (negative control)', async (t) => {
  t.throws(() => parsePrometheus('# TYPE a counter\na{b=c} 1\n'));
  t.throws(() => parsePrometheus('a 1\n'));
  t.same([...parsePrometheus('# TYPE a counter\na{b="c"} 1\n')], [['a{b="c"}', 1]]);
});

t.test('/metrics parses and its counters move when the process is started and stopped', async (t) => {
  const run = await startOnFakeEs();
  t.teardown(() => stopManager(run.manager));
  await run.pids();
  const read = async () => {
    const response = await run.manager.request('GET', '/metrics');
    t.equal(response.status, 200);
    t.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    return parsePrometheus(response.text);
  };
  const first = await read();
  t.equal(first.get('pm_process_state{name="es",state="started"}'), 1);
  t.equal(first.get('pm_process_state{name="es",state="stopped"}'), 0);
  t.equal(first.get('pm_process_starts_total{name="es"}'), 1);
  t.equal(first.get('pm_process_exits_total{name="es",cause="stop"}'), 0);

  await run.manager.request('POST', '/es/stop');
  const second = await read();
  t.equal(second.get('pm_process_state{name="es",state="stopped"}'), 1);
  t.equal(second.get('pm_process_exits_total{name="es",cause="stop"}'), 1);
  t.equal(second.get('pm_process_desired_started{name="es"}'), 0);

  await run.manager.request('POST', '/es/start');
  await run.manager.request('POST', '/es/kill');
  await run.manager.request('POST', '/es/restart');
  const third = await read();
  t.equal(third.get('pm_process_starts_total{name="es"}'), 3);
  t.equal(third.get('pm_process_exits_total{name="es",cause="kill"}'), 1);
  t.equal(third.get('pm_process_restarts{name="es"}'), 2);
  t.equal(third.get('pm_process_state{name="es",state="started"}'), 1);
  t.equal((await run.manager.request('POST', '/metrics')).status, 405, 'GET only');
});
