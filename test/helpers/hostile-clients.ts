// Clients that hold a server's connections without ever finishing a request,
// and a view of the server's side of those connections from /proc/net/tcp.

import fs from 'node:fs';
import net from 'node:net';

export type HostileKind = 'silent' | 'dripped-headers' | 'dripped-body';

export interface HostileClient {
  readonly socket: net.Socket;
  /** Everything the server sent before closing. */
  readonly received: () => string;
  /** Resolves once the server has closed its side (FIN or reset). */
  readonly closedByServer: Promise<void>;
}

/**
 * Opens one connection to 127.0.0.1:port. silent: sends nothing (and so never
 * starts a TLS handshake); dripped-headers: a request head one byte at a time;
 * dripped-body: a full head announcing a body, then the body one byte at a time.
 * Half-open: the client never closes its own side, so a server that only ends
 * its side keeps the socket (FIN-WAIT-2).
 */
function hostileClient(port: number, kind: HostileKind, dripEveryMs = 300): HostileClient {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let received = '';
  let timer: ReturnType<typeof setInterval> | undefined;
  const closedByServer = new Promise<void>((resolve) => {
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.once('end', resolve);
    socket.once('close', resolve);
    socket.on('error', () => resolve());
  }).finally(() => clearInterval(timer));
  const drip = (text: string): void => {
    let sent = 0;
    timer = setInterval(() => {
      if (socket.writable) socket.write(text[sent++ % text.length]!);
    }, dripEveryMs);
  };
  socket.once('connect', () => {
    if (kind === 'dripped-headers')
      drip(
        'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      );
    if (kind === 'dripped-body') {
      socket.write('GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
      drip('x');
    }
  });
  return { socket, received: () => received, closedByServer };
}

/** Many at once; destroyed by the returned function (call it in teardown). */
export function hostileClients(
  port: number,
  kinds: readonly HostileKind[],
): { clients: HostileClient[]; destroy: () => void } {
  const clients = kinds.map((kind) => hostileClient(port, kind));
  return { clients, destroy: () => clients.forEach((client) => client.socket.destroy()) };
}

/** Resolves once every client has its TCP connection established. */
export function connected(clients: readonly HostileClient[]): Promise<unknown> {
  return Promise.all(
    clients.map(({ socket }) =>
      socket.connecting ? new Promise((resolve) => socket.once('connect', resolve)) : undefined,
    ),
  );
}

/**
 * Sockets on the server side of port that a process still holds (not LISTEN,
 * inode not 0): an orphan the kernel finishes alone has inode 0.
 */
export function heldServerSockets(port: number): number {
  let held = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const localPort = parseInt(fields[1]!.split(':')[1]!, 16);
      if (localPort === port && fields[3] !== '0A' && fields[9] !== '0') held++;
    }
  }
  return held;
}
