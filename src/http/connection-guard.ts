// Keeps any client from holding a server's connections, and with them the
// kubelet's probe, off the air. Node's own limits leave gaps a client can sit
// in: a TLS handshake may take 120 s; headersTimeout and requestTimeout only
// start with a first byte and are checked every 30 s; maxConnections refuses
// the newcomer, never the squatter. So, per accepted TCP connection:
//   - from accept, and again from the end of each answer, a complete request
//     head (TLS handshake included) must arrive within `requestHeadMs`, or the
//     connection is destroyed (a 408 first when a request was begun);
//   - at the cap, a new connection evicts the oldest one without a request in
//     flight; only when every connection is busy is the newcomer refused.
// A request in flight is never cut: a stop may take --stop-timeout and more.
// Destroy, never end: an ended socket of a half-open server (node:http is one)
// waits in FIN-WAIT-2 for a client that may never close.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';

export interface ConnectionLimits {
  readonly maxConnections: number;
  readonly requestHeadMs: number;
  /** Written to a connection whose request was begun but not finished in time. */
  readonly lateAnswer?: string;
  /** Written, in plain text, to a client that speaks plain HTTP to a TLS server (curl http:// to an https port). */
  readonly plainHttpAnswer?: string;
}

export interface ConnectionGuard {
  /**
   * Shuts the server down: stops listening and destroys every connection, handshakes and idle keep-alives
   * included. Resolves once the server has closed.
   */
  close(): Promise<void>;
}

interface Connection {
  readonly socket: Socket;
  /** Read at accept: a closed socket no longer knows its peer. */
  readonly peer: string;
  /** What HTTP is spoken on: the socket itself, or its TLS socket once the handshake is done. */
  speaking?: Socket;
  inFlight: number;
  bytesAtReady: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** Guards `server`: call before it listens. Works for node:http and node:https servers alike. */
export function guardConnections(server: Server, limits: ConnectionLimits): ConnectionGuard {
  const isTls = isTlsServer(server);
  // Oldest first: a Set keeps the order connections were accepted in.
  const connections = new Set<Connection>();
  const bySocket = new WeakMap<Socket, Connection>();
  // A TLS socket is not the accepted one, but wraps it: same peer address and
  // port, which no two open TCP connections to one listener share.
  const peerOf = (socket: Socket): string => `${socket.remoteAddress}|${socket.remotePort}`;
  const byPeer = new Map<string, Connection>();

  const forget = (connection: Connection): void => {
    clearTimeout(connection.timer);
    connections.delete(connection);
    if (byPeer.get(connection.peer) === connection) byPeer.delete(connection.peer);
  };
  const destroy = (connection: Connection): void => {
    forget(connection);
    connection.socket.destroy();
  };
  const expire = (connection: Connection): void => {
    const { socket, speaking } = connection;
    const begun = socket.bytesRead > connection.bytesAtReady;
    if (!begun || !speaking || !limits.lateAnswer || !speaking.writable) return destroy(connection);
    forget(connection);
    speaking.end(limits.lateAnswer, () => socket.destroy());
    // A client that does not read the answer gets no more than a moment.
    setTimeout(() => socket.destroy(), 1_000).unref();
  };
  const awaitRequest = (connection: Connection): void => {
    clearTimeout(connection.timer);
    connection.bytesAtReady = connection.socket.bytesRead;
    connection.timer = setTimeout(() => expire(connection), limits.requestHeadMs);
    connection.timer.unref();
  };
  const evictOneIdle = (): boolean => {
    for (const connection of connections) {
      if (connection.inFlight === 0) {
        destroy(connection);
        return true;
      }
    }
    return false;
  };

  server.on('connection', (socket: Socket) => {
    if (connections.size >= limits.maxConnections && !evictOneIdle()) return socket.destroy();
    const connection: Connection = { socket, peer: peerOf(socket), inFlight: 0, bytesAtReady: 0 };
    connections.add(connection);
    bySocket.set(socket, connection);
    // Over TLS, HTTP is spoken on the TLS socket, known once its handshake is done.
    if (isTls) byPeer.set(connection.peer, connection);
    else connection.speaking = socket;
    socket.once('close', () => forget(connection));
    awaitRequest(connection);
  });
  server.on('secureConnection', (tlsSocket: Socket) => {
    const connection = byPeer.get(peerOf(tlsSocket));
    if (!connection || !connections.has(connection)) return;
    bySocket.set(tlsSocket, connection);
    connection.speaking = tlsSocket;
    // The handshake's own bytes are no request begun.
    connection.bytesAtReady = connection.socket.bytesRead;
  });
  // Without a listener a failed handshake destroys its socket; with one, that is ours to do. OpenSSL recognises a plain
  // HTTP request in place of a ClientHello, and the accepted socket under the TLS one can still carry plain text.
  server.on('tlsClientError', (error: NodeJS.ErrnoException, tlsSocket: Socket) => {
    const connection = byPeer.get(peerOf(tlsSocket));
    if (error.code !== 'ERR_SSL_HTTP_REQUEST' || !limits.plainHttpAnswer || !connection?.socket.writable) {
      if (connection) destroy(connection);
      return tlsSocket.destroy();
    }
    forget(connection);
    connection.socket.end(limits.plainHttpAnswer, () => connection.socket.destroy());
    setTimeout(() => connection.socket.destroy(), 1_000).unref();
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const connection = bySocket.get(request.socket);
    if (!connection) return;
    connection.inFlight++;
    clearTimeout(connection.timer);
    response.once('close', () => {
      // answered (or the client went away): the next request starts its own clock
      if (--connection.inFlight === 0 && connections.has(connection)) awaitRequest(connection);
    });
  });

  return {
    close: () =>
      new Promise<void>((resolve) => {
        // close() stops accepting at once; its callback waits for the open connections, which end here.
        server.close(() => resolve());
        for (const connection of [...connections]) destroy(connection);
        // node:http's own list, for any socket it tracks that we do not; absent from Deno's node:http.
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

function isTlsServer(server: Server): boolean {
  return typeof (server as { setSecureContext?: unknown }).setSecureContext === 'function';
}
