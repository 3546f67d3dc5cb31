// The checks of ES in process, against small local servers that misbehave on
// purpose: the kept connection, ES closing it as it is reused, credentials,
// a silent server, a huge answer, a closed port.

import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import type { KeystoreConfig } from '../../src/config/config.ts';
import { createEsCheck } from '../../src/readiness/es-check.ts';

const es = (endpoint: string, extra: Partial<KeystoreConfig> = {}): KeystoreConfig => ({
  mode: 'false',
  sourceDir: '',
  binary: '',
  keystorePath: '',
  reload: false,
  certificatesPath: '/nonexistent',
  endpoint,
  ...extra,
});

async function serve(handler: http.RequestListener) {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, handler);
  const sockets = new Set<net.Socket>();
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))),
  };
}

t.test('http: one kept connection; ES closing it as it is reused costs no failed check', async (t) => {
  let requests = 0;
  let dropNext = false;
  const server = await serve((request, response) => {
    requests++;
    if (dropNext) {
      dropNext = false;
      request.socket.destroy(); // as an ES closing an idle connection just as the check reuses it
      return;
    }
    response.end('{"tagline":"You Know, for Search"}');
  });
  t.teardown(server.close);
  const check = createEsCheck({ kind: 'http' }, es(server.url), 2_000);
  t.teardown(() => check.close());
  for (let i = 0; i < 3; i++) t.same(await check.run(), { ok: true });
  t.equal(server.connections, 1, 'three checks, one connection');
  dropNext = true;
  t.same(await check.run(), { ok: true }, 'asked again on a new connection');
  t.equal(server.connections, 2);
  t.equal(requests, 5);
});

t.test('http: credentials sent; a refusal names what to check, never the password', async (t) => {
  let authorization: string | undefined;
  const server = await serve((request, response) => {
    authorization = request.headers.authorization;
    response.statusCode = 401;
    response.end('{}');
  });
  t.teardown(server.close);
  const check = createEsCheck({ kind: 'http' }, es(server.url, { username: 'probe', password: 's3cret' }), 2_000);
  t.teardown(() => check.close());
  const result = await check.run();
  t.equal(authorization, `Basic ${Buffer.from('probe:s3cret').toString('base64')}`);
  t.match(result, { ok: false, summary: 'Elasticsearch answered HTTP 401: check USERNAME and PASSWORD/PASSWORD_FILE' });
  t.notMatch(JSON.stringify(result), /s3cret/);
});

t.test(
  'http: a server that never answers fails the check at --ready-timeout; a huge answer is not read whole',
  async (t) => {
    const silent = await serve(() => {});
    t.teardown(silent.close);
    const check = createEsCheck({ kind: 'http' }, es(silent.url), 300);
    t.teardown(() => check.close());
    const started = performance.now();
    t.match(await check.run(), { ok: false, summary: 'Elasticsearch did not answer within 300 ms' });
    t.ok(performance.now() - started < 5_000, 'within the timeout, give or take');

    let sent = 0;
    const huge = await serve((_request, response) => {
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const push = (): void => {
        while (sent < 64 * 1024 * 1024 && response.write(chunk)) sent += chunk.length;
        if (sent < 64 * 1024 * 1024) response.once('drain', push);
        else response.end();
      };
      push();
    });
    t.teardown(huge.close);
    const bigCheck = createEsCheck({ kind: 'http' }, es(huge.url), 10_000);
    t.teardown(() => bigCheck.close());
    t.same(await bigCheck.run(), { ok: true }, 'the status is the answer');
    t.ok(sent < 64 * 1024 * 1024, `stopped reading: ${Math.round(sent / 1024)} KiB of 64 MiB sent`);
  },
);

t.test('tcp: a closed port is not ready and says why; an open one is', async (t) => {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  t.same(await createEsCheck({ kind: 'tcp', port }, es(''), 1_000).run(), { ok: true });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  t.match(await createEsCheck({ kind: 'tcp', port }, es(''), 1_000).run(), {
    ok: false,
    summary: `nothing listens on port ${port} (ES opens readiness.port once the node is ready)`,
  });
});
