// The API on a Unix socket, for `process-manager ctl` inside the container:
// mode 0600, so reaching it needs a shell in the container as the manager's
// user, and no client certificate. It is an addition: when it cannot be
// served (a file in the way, another manager on it) the manager says so and
// runs on with its TCP API.

import fs from 'node:fs';
import { createServer } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Hono } from 'hono';
import type { Logger } from '../log/logger.ts';
import { MAX_WAITING_MUTATIONS } from './app.ts';
import type { UnixSocketBindings } from './audit.ts';
import { guardConnections } from '../http/connection-guard.ts';
import { nodeRequestListener, type NodeBindings } from '../http/node-bridge.ts';

export interface UnixSocketServer {
  close(): Promise<void>;
}

/** sun_path holds 108 bytes with its terminating NUL. */
const LONGEST_SOCKET_PATH = 107;
const HEADERS_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/**
 * ctl opens one connection per command. Twice the mutations that may wait
 * (app.ts), so that a full queue of stops still leaves room for `ctl status`.
 */
const MAX_CONNECTIONS = 2 * MAX_WAITING_MUTATIONS;

export async function serveUnixSocket(
  app: Hono,
  socketPath: string,
  log: Logger,
): Promise<UnixSocketServer | undefined> {
  const unavailable = (why: string): undefined => {
    log.warn(`not serving the API on ${socketPath}: ${why}; \`ctl\` will not reach this manager`, {
      'event.action': 'socket-unavailable',
      'file.path': socketPath,
    });
    return undefined;
  };
  if (Buffer.byteLength(socketPath) > LONGEST_SOCKET_PATH)
    return unavailable(`longer than the ${LONGEST_SOCKET_PATH} bytes a socket path may have (give --socket)`);
  const inTheWay = await clearStaleSocket(socketPath);
  if (inTheWay) return unavailable(inTheWay);

  const listener = nodeRequestListener(
    (request, env: NodeBindings) =>
      app.fetch(request, { ...env, unixSocketPath: socketPath } satisfies UnixSocketBindings),
    (error) =>
      log.error(`answering a request on the Unix socket failed: ${error.stack}`, { 'event.action': 'api-error' }),
  );
  const server = createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS },
    listener,
  );
  // The same guard as the TCP API: a connection that never speaks must not keep ctl out.
  const guard = guardConnections(server, { maxConnections: MAX_CONNECTIONS, requestHeadMs: HEADERS_TIMEOUT_MS });
  try {
    fs.mkdirSync(path.dirname(socketPath), { recursive: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // bind() creates the file with the umask's mode: never, even for an instant, more than 0600.
      const umask = process.umask(0o177);
      try {
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    fs.chmodSync(socketPath, 0o600);
  } catch (error) {
    server.close();
    return unavailable((error as Error).message);
  }
  const { ino } = fs.statSync(socketPath);
  log.info(`API listening on the Unix socket ${socketPath}`, {
    'event.action': 'socket-listening',
    'file.path': socketPath,
  });
  return {
    close: () => {
      const closed = guard.close();
      // Only our own socket: a manager started since may have replaced it.
      if (fs.statSync(socketPath, { throwIfNoEntry: false })?.ino === ino) fs.rmSync(socketPath, { force: true });
      return closed;
    },
  };
}

/** Removes a socket nobody answers on (left by a manager that died); returns why the path cannot be used, if it cannot. */
async function clearStaleSocket(socketPath: string): Promise<string | undefined> {
  const stat = fs.lstatSync(socketPath, { throwIfNoEntry: false });
  if (!stat) return undefined;
  if (!stat.isSocket()) return 'a file that is not a socket is in the way (left alone)';
  const answered = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    // ECONNREFUSED: a socket file without a listener, what a killed manager leaves.
    probe.once('error', () => resolve(false));
  });
  if (answered) return 'another manager answers on it';
  fs.rmSync(socketPath, { force: true });
  return undefined;
}
