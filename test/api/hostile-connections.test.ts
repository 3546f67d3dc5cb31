// issue-12 items 1 and 2: a full cap of connections that never finish a
// request (no byte at all, no TLS handshake, headers or body dripped) neither
// locks the probe out nor stays: the server closes and releases each one
// within seconds, and a manager that holds them still exits as asked.

import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { connected, heldServerSockets, hostileClients, type HostileKind } from '../helpers/hostile-clients.ts';
import { FAKE_ES, startManager, stopManager, tempDir, waitFor } from '../helpers/manager.ts';
import { createTestCa } from '../helpers/openssl.ts';
import { issue, mutualTlsFiles, tlsRequest } from '../helpers/tls-client.ts';

// The API's connection cap: this many hostile clients fill it.
const CAP = 64;
// Generous beside the API's 10 s deadline, well short of what a wedged or untimed connection lasts (forever, or 120 s).
const CLOSED_WITHIN_MS = 60_000;

function httpsArgs() {
  const dir = tempDir();
  const { serverCa, args: tlsArgs } = mutualTlsFiles(dir);
  const args = ['--cmd', FAKE_ES, '--state-file', path.join(dir, 'state.json'), '--http-host', '127.0.0.1', ...tlsArgs];
  return { args, trust: serverCa.certPem };
}

async function allClosedByServer(t: Test, clients: { closedByServer: Promise<void> }[], what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<'timeout'>(
    (resolve) => (timer = setTimeout(() => resolve('timeout'), CLOSED_WITHIN_MS)),
  );
  const outcome = await Promise.race([
    Promise.all(clients.map((c) => c.closedByServer)).then(() => 'closed' as const),
    deadline,
  ]);
  clearTimeout(timer);
  t.equal(outcome, 'closed', `the server closed all ${clients.length} ${what}`);
}

t.test(
  'HTTPS: connections that never start a TLS handshake lock nobody out, are closed and released, and SIGTERM still exits 143',
  async (t) => {
    const { args, trust } = httpsArgs();
    const manager = await startManager({ args });
    t.teardown(() => stopManager(manager));
    await manager.waitForLog(
      (r) => r['event.action'] === 'state-change' && r['process.state'] === 'started',
      'the fake ES to start',
    );
    const port = manager.port;

    const first = hostileClients(port, Array(CAP).fill('silent'));
    t.teardown(first.destroy);
    await connected(first.clients);
    await waitFor(() => heldServerSockets(port) >= CAP, 'the server to accept all of them');
    const health = await tlsRequest(port, '/health', { trust });
    t.equal(health.status, 200, `GET /health answers beside ${CAP} silent connections`);

    await allClosedByServer(t, first.clients, 'silent connections');
    await waitFor(
      () => heldServerSockets(port) === 0,
      'the server to hold none of them (no CLOSE-WAIT, no FIN-WAIT-2)',
    );
    t.pass('and released every socket although the clients never closed theirs');

    const second = hostileClients(port, Array(CAP).fill('silent'));
    t.teardown(second.destroy);
    await connected(second.clients);
    await waitFor(() => heldServerSockets(port) >= CAP, 'the server to accept a second batch');
    manager.child.kill('SIGTERM');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exit = await Promise.race([
      manager.exited,
      new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), CLOSED_WITHIN_MS))),
    ]);
    clearTimeout(timer);
    t.match(exit, { code: 143 }, 'SIGTERM while they are held: the process is stopped and its status (143) returned');
  },
);

t.test(
  'HTTP: silent, header-dripping and body-dripping connections lock nobody out and are closed and released within seconds',
  async (t) => {
    const run = await startOnFakeEs();
    t.teardown(() => stopManager(run.manager));
    const port = run.manager.port;
    const kinds: HostileKind[] = ['silent', 'dripped-headers', 'dripped-body'];
    const hostile = hostileClients(
      port,
      Array.from({ length: CAP }, (_, i) => kinds[i % kinds.length]!),
    );
    t.teardown(hostile.destroy);
    await connected(hostile.clients);
    await waitFor(() => heldServerSockets(port) >= CAP, 'the server to accept all of them');

    const health = await run.manager.request('GET', '/health');
    t.equal(health.status, 200, `GET /health answers beside ${CAP} hostile connections`);
    const status = await run.manager.request('GET', '/es/status');
    t.equal(status.status, 200, 'and so does the operator');

    await allClosedByServer(t, hostile.clients, 'hostile connections');
    await waitFor(() => heldServerSockets(port) === 0, 'the server to hold none of them (destroyed, not half-closed)');
    t.pass('and released every socket although the clients never closed theirs');
    // Each probe above may have evicted one of them (the oldest without a request in flight) before its deadline.
    const dripped = hostile.clients.filter((_, i) => kinds[i % kinds.length] === 'dripped-headers');
    const answered408 = dripped.filter((client) =>
      /^HTTP\/1\.1 408 [\s\S]*"timeout_exception"/.test(client.received()),
    );
    t.ok(
      answered408.length >= dripped.length - 2,
      `a request head that never ends is answered 408 in JSON before the close (${answered408.length} of ${dripped.length})`,
    );
  },
);

t.test(
  'a request in flight longer than the 10 s deadline is answered, not cut (HTTPS: a stop that waits out --stop-timeout)',
  async (t) => {
    const dir = tempDir();
    const serverCa = createTestCa(path.join(dir, 'server-ca'));
    const clientCa = createTestCa(path.join(dir, 'client-ca'));
    const server = issue(serverCa, path.join(dir, 'issued'), 'localhost');
    const operator = issue(clientCa, path.join(dir, 'issued'), 'operator');
    fs.writeFileSync(path.join(dir, 'tls.crt'), server.certPem);
    fs.writeFileSync(path.join(dir, 'tls.key'), server.keyPem);
    const manager = await startManager({
      args: [
        '--cmd',
        '/bin/sh',
        '--state-file',
        path.join(dir, 'state.json'),
        '--http-host',
        '127.0.0.1',
        '--stop-timeout',
        '12s',
        '--tls-cert',
        path.join(dir, 'tls.crt'),
        '--tls-key',
        path.join(dir, 'tls.key'),
        '--tls-client-ca',
        clientCa.certPath,
        '--',
        '-c',
        'trap "" TERM; echo ready; while :; do sleep 1; done',
      ],
    });
    t.teardown(() => stopManager(manager));
    await waitFor(() => manager.output.includes('ready'), 'the shell to ignore SIGTERM');
    const began = Date.now();
    const stopped = await tlsRequest(manager.port, '/es/stop', {
      trust: serverCa.certPem,
      client: operator,
      method: 'POST',
    });
    t.equal(stopped.status, 200, `answered after ${Date.now() - began} ms`);
    t.equal(stopped.json.state, 'stopped');
    t.ok(Date.now() - began >= 10_000, 'the request outlived the deadline for a request head');
  },
);
