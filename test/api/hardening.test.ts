// The API against broken and hostile clients: slow-loris, large bodies,
// malformed requests, and a fuzz loop. None of it may disturb the manager.

import net from 'node:net';
import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { stopManager } from '../helpers/manager.ts';

/** Sends raw bytes on a fresh connection; resolves with whatever came back before the server closed or timeoutMs passed. */
function raw(port: number, bytes: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(done, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      reply += chunk;
      if (/\r\n\r\n/.test(reply) && /Content-Length: (\d+)/i.test(reply)) {
        const length = Number(/Content-Length: (\d+)/i.exec(reply)![1]);
        if (Buffer.byteLength(reply.split('\r\n\r\n').slice(1).join('\r\n\r\n')) >= length) done();
      }
    });
    socket.on('end', done);
    socket.on('error', done);
    socket.write(bytes);
  });
}

function bodyOf(reply: string): any {
  return JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4));
}

t.test('slow-loris clients do not block other clients', async (t) => {
  const run = await startOnFakeEs();
  t.teardown(() => stopManager(run.manager));
  const slow: net.Socket[] = [];
  for (let i = 0; i < 20; i++) {
    const socket = net.connect(run.manager.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('GET /es/status HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    slow.push(socket);
  }
  t.teardown(() => slow.forEach((s) => s.destroy()));
  const timer = setInterval(() => slow.forEach((s) => s.write('a')), 500);
  t.teardown(() => clearInterval(timer));
  const began = Date.now();
  const status = await run.manager.request('GET', '/es/status');
  t.equal(status.status, 200);
  // Generous: a blocked server would hang for the 10 s headers timeout at least.
  t.ok(Date.now() - began < 5_000, `answered beside 20 slow clients (${Date.now() - began} ms)`);
});

t.test('a request body is refused with 413 and the process is untouched', async (t) => {
  const run = await startOnFakeEs();
  t.teardown(() => stopManager(run.manager));
  const [launcher] = await run.pids();
  const big = await run.manager.request('POST', '/es/stop', 'x'.repeat(64 * 1024));
  t.equal(big.status, 413);
  t.match(big.json, { error: { type: 'request_entity_too_large_exception' }, status: 413 });
  const chunked = await raw(
    run.manager.port,
    'POST /es/kill HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  );
  t.match(chunked, /^HTTP\/1\.1 413 /, 'a chunked body too');
  t.equal((await run.manager.request('POST', '/es/stop', '{}')).status, 200, 'a tiny body is tolerated');
  t.equal((await run.manager.status()).state, 'stopped');
  t.not(launcher, undefined);
});

t.test('malformed requests get JSON errors', async (t) => {
  const run = await startOnFakeEs();
  t.teardown(() => stopManager(run.manager));
  const port = run.manager.port;
  const cases: [string, string, RegExp][] = [
    ['an unknown method', 'BREW /es/status HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['garbage instead of a request line', '\x00\x01\x02 nonsense\r\n\r\n', /^HTTP\/1\.1 400 /],
    [
      'a header too large',
      `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(16 * 1024)}\r\n\r\n`,
      /^HTTP\/1\.1 431 /,
    ],
    ['a bad percent-encoding', 'GET /es/%zz HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 404 /],
    ['a path with dot segments', 'GET /es/../es/./status/.. HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 (200|404) /],
    ['a method known to HTTP but not here', 'PATCH /es/status HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 405 /],
  ];
  for (const [what, bytes, status] of cases) {
    const reply = await raw(port, bytes);
    t.match(reply, status, what);
    t.match(reply, /Content-Type: application\/json/i, `${what}: JSON`);
    t.match(
      bodyOf(reply),
      { error: { type: String, reason: String }, status: Number },
      `${what}: Elasticsearch's error shape`,
    );
    t.notMatch(reply, /at .*\.(ts|js|cjs):\d+|\/work\/|\/tmp\//, `${what}: no stack trace or file path`);
  }
});

t.test('requests reach the routes by their path alone, in every form HTTP/1.1 allows', async (t) => {
  const run = await startOnFakeEs();
  t.teardown(() => stopManager(run.manager));
  const port = run.manager.port;
  const absolute = await raw(
    port,
    'GET http://elsewhere.example/es/status HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n',
  );
  t.match(absolute, /^HTTP\/1\.1 200 /, 'absolute-form target: its path is routed');
  t.match(bodyOf(absolute), { name: 'es', state: 'started' });
  const hostile = await raw(port, 'GET /es/status HTTP/1.1\r\nHost: evil.example/health?x=\r\n\r\n');
  t.match(bodyOf(hostile), { name: 'es', state: 'started' }, 'a Host header with a path in it changes nothing');
  const asterisk = await raw(port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n');
  t.match(asterisk, /^HTTP\/1\.1 400 /, 'asterisk-form: no such resource here');
  t.match(bodyOf(asterisk), { error: { type: 'parse_exception' }, status: 400 });

  const get = await raw(port, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const head = await raw(port, 'HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(head, /^HTTP\/1\.1 200 /, 'HEAD is answered');
  t.equal(head.slice(head.indexOf('\r\n\r\n') + 4), '', 'without a body');
  const length = (reply: string) => Number(/Content-Length: (\d+)/i.exec(reply)?.[1]);
  t.equal(length(head), length(get), "with GET's Content-Length");
  t.ok(length(get) > 0);
});

t.test(
  'a fuzz loop of thousands of random requests leaves the manager healthy and the process as it was',
  async (t) => {
    const run = await startOnFakeEs();
    t.teardown(() => stopManager(run.manager));
    const [launcher] = await run.pids();
    const before = await run.manager.status();
    // Deterministic, so a failure can be replayed.
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const methods = ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'POST'];
    const pieces = [
      'es',
      'health',
      'status',
      'keystore',
      'metrics',
      '..',
      '.',
      '%00',
      '%zz',
      '%2e%2e',
      '',
      '\u00e9',
      'a'.repeat(300),
      '?x=1',
      '#f',
      '//',
      'start',
      'stop',
    ];
    const headerNames = ['X-A', 'Content-Length', 'Transfer-Encoding', 'Expect', 'Host', 'Connection', 'Range'];
    let answered = 0;
    for (let i = 0; i < 3000; i++) {
      const method = methods[random(methods.length)];
      // Never a POST to a real mutation: the fuzz must not be able to stop the process legitimately.
      const parts = Array.from({ length: 1 + random(4) }, () => pieces[random(pieces.length)]);
      let target = '/' + parts.join('/');
      if (method === 'POST' && /^\/es\/(start|stop|kill|restart)\/?$/.test(target)) target += 'x';
      const header = `${headerNames[random(headerNames.length)]}: ${['0', '-1', 'chunked', '100-continue', 'close', 'bytes=0-1', 'x'.repeat(random(50))][random(7)]}`;
      // Connection: close so the reply ends with the connection (HEAD answers have no body to wait for).
      const reply = await raw(
        run.manager.port,
        `${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${header}\r\n\r\n`,
        300,
      );
      if (/^HTTP\/1\.1 \d{3} /.test(reply)) answered++;
    }
    t.ok(answered > 2500, `most random requests got an HTTP answer (${answered} of 3000)`);
    const health = await run.manager.request('GET', '/health');
    t.equal(health.status, 200, 'still healthy');
    const after = await run.manager.status();
    t.equal(after.state, 'started');
    t.equal(after.pid, launcher, 'the same process');
    t.equal(after.restarts, before.restarts);
  },
);
