// The reload call reads a bounded answer and has an overall deadline
// (issue 12 item 8): a 100 MB answer is not read past 256 KiB (against the
// built executable), and a body dripped a byte at a time (undici's body
// timeout restarts at each byte) ends at the deadline (in process, the real
// reload client given a deadline of one second instead of 60).

import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startManager, stopManager, waitFor } from '../helpers/manager.ts';
import { keystoreLayout, statusWhere, writeSecret } from '../helpers/keystore.ts';
import { inProcessStatusWhere, startInProcess } from '../helpers/keystore-in-process.ts';

/** A plain-HTTP "Elasticsearch" whose reload answer is what `answer` writes; counts bytes sent. */
async function startHostileEs(answer: (response: http.ServerResponse, sent: { bytes: number }) => void) {
  const sent = { bytes: 0, requests: 0 };
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((request, response) => {
    sent.requests++;
    request.resume();
    answer(response, sent);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent,
    openSockets: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function startUpdater(t: Test, url: string) {
  const layout = keystoreLayout();
  writeSecret(layout.sourceDir, { a: 'A0' });
  const manager = await startManager({
    args: layout.args,
    env: { ...layout.env, RELOAD_CREDENTIALS: 'true', ENDPOINT: url },
  });
  t.teardown(() => stopManager(manager));
  await statusWhere(manager, (s) => s.state === 'synced', 'the first sync');
  await waitFor(async () => (await manager.status()).state === 'started', 'the process to start');
  writeSecret(layout.sourceDir, { a: 'A1' });
  return manager;
}

t.test('a 100 MB answer is read no further than 256 KiB', async (t) => {
  const es = await startHostileEs((response, sent) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(100e6) });
    const chunk = Buffer.alloc(64 * 1024, ' ');
    const pump = (): void => {
      while (sent.bytes < 100e6) {
        sent.bytes += chunk.length;
        if (!response.write(chunk)) return void response.once('drain', pump);
      }
      response.end();
    };
    response.on('error', () => {});
    pump();
  });
  t.teardown(() => es.close());
  const manager = await startUpdater(t, es.url);
  const status = await statusWhere(manager, (s) => s.reload.failure === 'http', 'the reload to fail');
  t.match(status.reason, /an answer larger than 256 KiB; not read further/);
  t.ok(es.sent.bytes < 100e6, `the server could send only ${es.sent.bytes} bytes before the connection was dropped`);
});

t.test('a body dripped a byte at a time ends at the overall deadline', async (t) => {
  const timers = new Set<NodeJS.Timeout>();
  const es = await startHostileEs((response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.on('error', () => {});
    // A byte every 200 ms never trips a per-byte body timeout; the 1 s deadline must end it.
    const drip = setInterval(() => response.write(' '), 200);
    timers.add(drip);
    response.on('close', () => clearInterval(drip));
  });
  t.teardown(async () => {
    for (const timer of timers) clearInterval(timer);
    await es.close();
  });
  const layout = keystoreLayout();
  writeSecret(layout.sourceDir, { a: 'A0' });
  const running = await startInProcess(t, layout, {
    env: { RELOAD_CREDENTIALS: 'true', ENDPOINT: es.url },
    isProcessStarted: () => true,
    reloadDeadlineMs: 1_000,
  });
  await running.updater.firstSync();
  writeSecret(layout.sourceDir, { a: 'A1' });
  const status = await inProcessStatusWhere(running, (s) => s.reload.failure === 'timeout', 'the reload to time out');
  t.match(status.reason, /no complete answer from http:\/\/127\.0\.0\.1:\d+ within 1 s/);
  t.ok(es.sent.requests >= 1, 'the reload reached the server');
  await waitFor(() => es.openSockets() === 0 || es.sent.requests > 1, 'the dripping connection to be dropped', 10_000);
});
