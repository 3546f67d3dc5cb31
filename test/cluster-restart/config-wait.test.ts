// --config SHA: a node is started only once its manager reports that
// configuration, with POST /NAME/start?config=SHA, and a 409
// config_mismatch_exception (it changed again in between) means wait again.
// The managers of this branch do not have --config-path yet, so a shim plays
// the contract's shapes in front of es-0's real manager: GET /es/status gains
// "config":{"sha256","changedAt"}, POST /es/start?config=SHA answers 409 on a
// mismatch, and everything else is passed to the real manager.

import http from 'node:http';
import t from 'tap';
import { restart, startFakeCluster } from '../helpers/es-cluster.ts';
import { waitFor } from '../helpers/manager.ts';

const OLD = 'a'.repeat(64);
const NEW = 'b'.repeat(64);
const OTHER = 'c'.repeat(64);

const cluster = await startFakeCluster();
t.teardown(() => cluster.close());

t.test('--config: the start waits for the configuration, and a mismatch in between waits again', async (t) => {
  let mounted = OLD;
  let surprise = false; // the next start finds the configuration changed again
  const log: string[] = [];
  const shim = http.createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://shim');
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/es/status') {
      const real = await cluster.managerRequest('es-0', 'GET', '/es/status');
      log.push(`status ${mounted.slice(0, 1)} ${real.json.state}`);
      return answer(real.status, { ...real.json, config: { sha256: mounted, changedAt: new Date().toISOString() } });
    }
    if (req.method === 'POST' && url.pathname === '/es/start') {
      const wanted = url.searchParams.get('config');
      const current = surprise ? OTHER : mounted;
      surprise = false;
      if (wanted && wanted !== current) {
        log.push(`start refused ${wanted.slice(0, 1)}`);
        return answer(409, {
          error: {
            type: 'config_mismatch_exception',
            reason: `the mounted configuration is ${current}, not ${wanted}`,
          },
          status: 409,
        });
      }
      log.push(`start ${wanted?.slice(0, 1)}`);
    }
    const real = await cluster.managerRequest('es-0', req.method!, url.pathname);
    if (url.pathname === '/es/stop') log.push('stop');
    answer(real.status, real.json);
  });
  await new Promise<void>((resolve) => shim.listen(0, '127.0.0.1', resolve));
  t.teardown(() => void shim.close());
  const port = (shim.address() as { port: number }).port;

  const before = cluster.starts();
  const running = restart([
    ...cluster.baseArgs,
    '--nodes',
    'es-0',
    '--manager',
    `es-0=http://127.0.0.1:${port}`,
    '--config',
    NEW,
    '--config-timeout',
    '60s',
  ]);
  // Stopped, and the coordinator asking again and again for a configuration that has not arrived.
  await waitFor(
    () => log.filter((line) => line === 'status a stopped').length >= 2,
    'the coordinator to wait for the configuration',
    60_000,
  );
  t.notOk(
    log.some((line) => line.startsWith('start')),
    'no start while the old configuration is mounted',
  );
  surprise = true;
  mounted = NEW;
  const run = await running;
  t.equal(run.code, 0, run.stdout + run.stderr);
  const firstStart = log.findIndex((line) => line.startsWith('start'));
  t.equal(log[firstStart], 'start refused b', 'the first start found it changed again: 409');
  t.equal(log.filter((line) => line === 'start b').length, 1, 'then one start with the configuration');
  t.equal(cluster.starts()['es-0'], before['es-0'] + 1, 'es-0 restarted once');
  t.match(run.stdout, /es-0: start \(configuration bbbbbbbbbbbb…\)/);
});
