// issue-12 item 4: the CSR port against a flood. Connections are capped and
// the idle ones closed and released within seconds, the CSR is still served
// beside a full cap, and a flood of GET /csr does not flood the log.

import t from 'tap';
import { certLayout, startCertManager } from '../helpers/cert-manager.ts';
import { connected, heldServerSockets, hostileClients } from '../helpers/hostile-clients.ts';
import { stopManager, waitFor } from '../helpers/manager.ts';

const CAP = 64;

t.test('idle connections to the CSR port are capped, closed and released; GET /csr still answers', async (t) => {
  const manager = await startCertManager(certLayout());
  t.teardown(() => stopManager(manager));
  const listening = await manager.waitForLog((r) => r['event.action'] === 'csr-listening', 'the CSR port');
  const port = listening['server.port'] as number;

  const flood = hostileClients(port, Array(CAP + 36).fill('silent'));
  t.teardown(flood.destroy);
  await connected(flood.clients);
  await waitFor(() => heldServerSockets(port) >= CAP, 'the server to accept a full cap');
  // Each connection past the cap evicts the oldest idle one. Read between an accept and its eviction, the
  // count shows one more; once every eviction is done nothing more comes in, and the count stands still.
  let evicted = 0;
  for (const client of flood.clients) void client.closedByServer.then(() => evicted++);
  await waitFor(() => evicted >= flood.clients.length - CAP, 'one eviction per connection past the cap');
  const held = heldServerSockets(port);
  t.ok(held <= CAP, `the server holds at most ${CAP} of ${flood.clients.length} connections (${held})`);
  const response = await fetch(`http://127.0.0.1:${port}/csr`, { signal: AbortSignal.timeout(30_000) });
  t.equal(response.status, 200, 'GET /csr answers beside a full cap of idle connections');
  await response.text();

  let timer: ReturnType<typeof setTimeout> | undefined;
  const closed = await Promise.race([
    Promise.all(flood.clients.map((c) => c.closedByServer)).then(() => 'closed'),
    new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), 60_000))),
  ]);
  clearTimeout(timer);
  t.equal(closed, 'closed', 'every idle connection is closed by the server');
  await waitFor(() => heldServerSockets(port) === 0, 'the server to hold none of them');
  t.pass('and none is held half-closed');
});

t.test('GET /csr is logged at info once, then at debug', async (t) => {
  const manager = await startCertManager(certLayout());
  t.teardown(() => stopManager(manager));
  const listening = await manager.waitForLog((r) => r['event.action'] === 'csr-listening', 'the CSR port');
  const port = listening['server.port'] as number;
  for (let i = 0; i < 20; i++) {
    const response = await fetch(`http://127.0.0.1:${port}/csr`, { signal: AbortSignal.timeout(30_000) });
    if (response.status !== 200) t.fail(`GET /csr: ${response.status}`);
    await response.text();
  }
  await manager.waitForLog((r) => r['event.action'] === 'csr-served', 'the first fetch to be logged');
  // A later line tells us the manager has written everything about the fetches above.
  manager.child.kill('SIGHUP');
  await manager.waitForLog((r) => r['event.action'] === 'manager-signal', 'the SIGHUP line');
  t.equal(manager.logs.filter((r) => r['event.action'] === 'csr-served').length, 1, 'one info line for 20 fetches');
});
