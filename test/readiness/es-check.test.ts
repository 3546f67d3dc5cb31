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

/** A server that answers each request with the next of `answers`, written as given, in pieces `split` bytes long. */
async function serveRaw(answers: string[], split = 7) {
  const heads: string[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let pending = '';
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        heads.push(pending.slice(0, end));
        pending = pending.slice(end + 4);
        const answer = answers.shift() ?? 'HTTP/1.1 500 Out Of Answers\r\nContent-Length: 0\r\n\r\n';
        for (let i = 0; i < answer.length; i += split) socket.write(answer.slice(i, i + split), 'latin1');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    heads,
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))),
  };
}

t.test('http: the answer is read by hand, in any pieces; only one of known length keeps the connection', async (t) => {
  const body = '{"tagline":"You Know, for Search"}';
  const sized = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
  const server = await serveRaw([
    sized,
    `HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n${sized}`,
    sized,
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    `HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    `HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    'HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}',
    'HTTP/1.1 204 No Content\r\n\r\n',
    sized,
  ]);
  t.teardown(server.close);
  const check = createEsCheck({ kind: 'http' }, es(server.url, { username: 'u', password: 'p' }), 2_000);
  t.teardown(() => check.close());
  for (let i = 0; i < 3; i++) t.same(await check.run(), { ok: true }, `answer ${i + 1}, its length known`);
  t.equal(server.connections, 1, 'one connection for the three, an interim 103 included');
  t.same(await check.run(), { ok: true }, 'chunked: the status is the answer');
  t.same(await check.run(), { ok: true }, 'Connection: close');
  t.same(await check.run(), { ok: true }, 'HTTP/1.0');
  t.equal(server.connections, 3, 'after each of those three, the next check connects anew');
  t.match(await check.run(), { ok: false, summary: /HTTP 401/ });
  t.same(await check.run(), { ok: true }, '204, no body');
  t.same(await check.run(), { ok: true });
  t.equal(server.connections, 4, 'a 401 of known length and a 204 keep the connection');
  t.equal(server.heads.length, 9);
  t.match(server.heads[0], /^GET \/ HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nAccept: application\/json\r\n/);
  t.match(server.heads[0], `\r\nAuthorization: Basic ${Buffer.from('u:p').toString('base64')}`);
});

t.test('http: bytes that are not an HTTP answer fail the check and the connection', async (t) => {
  const server = await serveRaw(['SSH-2.0-OpenSSH_9.2\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']);
  t.teardown(server.close);
  const check = createEsCheck({ kind: 'http' }, es(server.url), 2_000);
  t.teardown(() => check.close());
  t.match(await check.run(), { ok: false, summary: 'the request to Elasticsearch failed (EPROTO)' });
  t.same(await check.run(), { ok: true });
  t.equal(server.connections, 2);
});

t.test('http: close() during a check ends it and opens no new connection', async (t) => {
  // The second request gets no answer: the check waits on a kept (reused) connection, which a cut would retry.
  const server = await serveRaw(['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', '']);
  t.teardown(server.close);
  const check = createEsCheck({ kind: 'http' }, es(server.url), 5_000);
  t.same(await check.run(), { ok: true });
  const cut = check.run();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await check.close();
  t.match(await cut, { ok: false, summary: /ESHUTDOWN/ });
  t.equal(server.heads.length, 2);
  t.equal(server.connections, 1, 'no connection after close()');
});
