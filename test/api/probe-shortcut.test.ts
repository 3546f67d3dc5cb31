// GET /health and GET /NAME/ready answered by server.ts before the app
// (probe-shortcut.ts), over a real node:http server in process: the same
// status, headers and body as the app's routes, and the app is not asked;
// anything else (a query, HEAD, a body announced) still goes to the app.

import '../helpers/fetch-lite-globals.ts';
import http from 'node:http';
import t, { type Test } from 'tap';
import { createApi } from '../../src/api/app.ts';
import { serveApi } from '../../src/api/server.ts';
import { createSupervisor } from '../../src/supervisor/supervisor.ts';
import { createFakeSystem, supervisorConfig } from '../helpers/fake-system.ts';

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

async function setup(t: Test) {
  const fake = createFakeSystem();
  const config = supervisorConfig();
  const supervisor = createSupervisor(config, { log: fake.log, onExitRequested: () => {}, system: fake.system });
  supervisor.takeOverStateFile();
  const app = createApi({ name: config.name, supervisor, log: fake.log });
  const toApp: string[] = [];
  const fetch = app.fetch;
  app.fetch = (request, ...rest) => (
    toApp.push(`${request.method} ${new URL(request.url).pathname}`), fetch(request, ...rest)
  );
  const server = await serveApi(app, { host: '127.0.0.1', port: 0 }, fake.log);
  t.teardown(() => server.close());
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const request = (method: string, path: string, headers: Record<string, string> = {}, body = '') =>
    new Promise<Answer>((resolve, reject) => {
      http
        .request({ host: '127.0.0.1', port: server.port, method, path, headers, agent }, (response) => {
          let body = '';
          response.setEncoding('utf8').on('data', (chunk) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
        })
        .on('error', reject)
        .end(body);
    });
  return { supervisor, toApp, request };
}

const sameAnswer = (t: Test, short: Answer, full: Answer, what: string): void => {
  t.equal(short.status, full.status, `${what}: status`);
  t.equal(short.body, full.body, `${what}: body`);
  for (const name of ['content-type', 'content-length', 'connection', 'keep-alive'])
    t.equal(short.headers[name], full.headers[name], `${what}: ${name}`);
};

t.test('the probes are answered before the app, as the app answers them', async (t) => {
  const { supervisor, toApp, request } = await setup(t);
  // A query string does not change the route, and sends the request to the app.
  sameAnswer(t, await request('GET', '/es/ready'), await request('GET', '/es/ready?via=app'), 'not started');
  sameAnswer(t, await request('GET', '/health'), await request('GET', '/health?via=app'), 'health');
  await supervisor.start('boot');
  const ready = await request('GET', '/es/ready');
  t.equal(ready.status, 200);
  t.match(JSON.parse(ready.body), { ready: true, reason: null, state: 'started' });
  sameAnswer(t, ready, await request('GET', '/es/ready?via=app'), 'started');
  t.same(toApp, ['GET /es/ready', 'GET /health', 'GET /es/ready'], 'only the requests with a query reached the app');
});

t.test('HEAD, a request body announced, another method or path: the app answers', async (t) => {
  const { toApp, request } = await setup(t);
  t.equal((await request('HEAD', '/health')).status, 200);
  t.equal((await request('GET', '/health', { 'Content-Length': '0' })).status, 200);
  t.equal(
    (await request('GET', '/es/ready', { 'content-type': 'application/json', 'content-length': '2' }, '{}')).status,
    503,
  );
  t.equal((await request('POST', '/health')).status, 405);
  t.equal((await request('GET', '/es/nothing')).status, 404);
  t.same(toApp, ['GET /health', 'GET /health', 'GET /es/ready', 'POST /health', 'GET /es/nothing']);
});
