// The bench's side of the wire: free ports, a raw-socket /health probe for
// start-up timing, single requests with a timestamp on the answer, and the
// keep-alive HTTPS load generator. 127.0.0.1 only.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { epochNs } from './clock.mjs';

export const HOST = '127.0.0.1';

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * One plain-HTTP GET on a fresh socket: resolves with the status code, or null
 * when nothing listens yet (ECONNREFUSED) or the connection breaks.
 */
export function rawGetStatus(port, route, timeoutMs = 2_000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let received = '';
    const done = (value) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.setNoDelay(true);
    socket.once('connect', () =>
      socket.write(`GET ${route} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(received);
      if (match) done(Number(match[1]));
    });
    socket.once('error', () => done(null));
    socket.once('close', () => done(null));
  });
}

/**
 * One request; resolves {status, json, text, answeredNs} where answeredNs is the
 * epoch time at which the status line arrived.
 */
export function request({ port, method = 'GET', route, tls, agent = false, timeoutMs = 30_000 }) {
  const lib = tls ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      { host: HOST, port, method, path: route, agent, timeout: timeoutMs, ...(tls ?? {}) },
      (res) => {
        const answeredNs = epochNs();
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, text, json, answeredNs });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${route}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * count requests over `connections` keep-alive HTTPS connections presenting the
 * client certificate, cycling through routes. Every answer must be 200.
 * Bounded: gives up after timeLimitMs. Returns {count, failures, elapsedMs, sockets}.
 */
export async function httpsLoad({ port, tls, routes, count, connections = 4, timeLimitMs = 180_000 }) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: connections, ...tls });
  // Counts connections opened: with keep-alive working it stays at `connections`.
  let sockets = 0;
  const createConnection = agent.createConnection.bind(agent);
  agent.createConnection = (...args) => {
    sockets++;
    return createConnection(...args);
  };
  try {
    const load = await runLoad({
      count,
      concurrency: connections,
      timeLimitMs,
      what: 'requests',
      routes,
      send: (route) => request({ port, route, tls, agent, timeoutMs: 10_000 }),
    });
    return { ...load, sockets };
  } finally {
    agent.destroy();
  }
}

/**
 * count calls of send(route), cycling through routes, `concurrency` at a time.
 * Every answer must be 200; more than 100 failures, or timeLimitMs, end the
 * load with an error. `what` names the calls in messages.
 * Returns {count, failures, firstFailure, elapsedMs}.
 */
export async function runLoad({ count, concurrency, timeLimitMs, what, routes, send }) {
  const started = performance.now();
  let issued = 0;
  let failures = 0;
  let firstFailure = null;
  const worker = async () => {
    while (issued < count) {
      if (performance.now() - started > timeLimitMs)
        throw new Error(`load: ${issued} of ${count} ${what} after ${timeLimitMs} ms; giving up`);
      const route = routes[issued % routes.length];
      issued++;
      try {
        const answer = await send(route);
        if (answer.status !== 200) {
          failures++;
          firstFailure ??= `${route}: HTTP ${answer.status} ${answer.text.slice(0, 200)}`;
        }
      } catch (error) {
        failures++;
        firstFailure ??= `${route}: ${error.message}`;
      }
      if (failures > 100) throw new Error(`load: more than 100 failed ${what}; first: ${firstFailure}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { count: issued, failures, firstFailure, elapsedMs: performance.now() - started };
}
