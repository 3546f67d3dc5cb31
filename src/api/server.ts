// Serves the API app over HTTP or HTTPS with Node's server (Deno runs it
// through its node:http compatibility). Everything that protects the manager
// from its clients lives here: timeouts, a connection cap, TLS and its reload.

import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Api } from './app.ts';
import type { TlsConfig } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { configError } from '../config/errors.ts';
import { guardConnections } from '../http/connection-guard.ts';
import { errorBody } from '../http/errors.ts';
import { createHeapTrimmer } from './heap-trim.ts';
import { nodeRequestListener } from '../http/node-bridge.ts';
import { probeShortcut } from './probe-shortcut.ts';

export interface ApiServer {
  readonly port: number;
  /** Re-reads the TLS files; a bad set is logged and the previous one stays in use. */
  reloadTls(): void;
  close(): Promise<void>;
}

export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsConfig;
}

// The API is a handful of tiny requests from an operator and a kubelet: anything
// slower or larger than this is a broken or hostile client (README, "Hardening").
// A connection must deliver a complete request head, TLS handshake included,
// this long after it opens or after its previous answer (connection-guard.ts).
const REQUEST_HEAD_MS = 10_000;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_CONNECTIONS = 64;
const MAX_HEADER_BYTES = 8 * 1024;
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/** A complete HTTP/1.1 answer carrying the API's JSON error, for sockets the app never saw. */
function rawErrorAnswer(status: number, reason: string): string {
  const body = JSON.stringify(errorBody(status, status === 408 ? 'timeout_exception' : 'parse_exception', reason));
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export async function serveApi(app: Api, options: ServeOptions, log: Logger): Promise<ApiServer> {
  const tls = options.tls;
  const hardening = {
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    maxHeaderSize: MAX_HEADER_BYTES,
  };
  const listener = nodeRequestListener(
    app.fetch,
    (error) => log.error(`answering a request failed: ${error.stack}`, { 'event.action': 'api-error' }),
    probeShortcut(app.probes),
  );
  // node:https (and node:crypto under it, for the checks) are loaded only when TLS is on: together they cost
  // a plain-HTTP manager 15 to 20 ms of start-up (issue 20).
  const tlsModules = tls && { https: await import('node:https'), material: await import('./tls-material.ts') };
  let material: SecureContextOptions | undefined;
  try {
    material = tls && tlsModules?.material.readTlsMaterial(tls);
  } catch (error) {
    if (tlsModules && error instanceof tlsModules.material.TlsMaterialError) throw configError(error.message);
    throw error;
  }
  const server =
    material && tlsModules
      ? // The certificate is asked for at the TLS layer but not enforced there:
        // GET /health must stay open to kubelet probes; routes authorize (client-auth.ts).
        tlsModules.https.createServer(
          {
            ...hardening,
            ...material,
            handshakeTimeout: REQUEST_HEAD_MS,
            requestCert: !!tls?.clientCaFile,
            rejectUnauthorized: false,
          },
          listener,
        )
      : createHttpServer(hardening, listener);
  const guard = guardConnections(server, {
    maxConnections: MAX_CONNECTIONS,
    requestHeadMs: REQUEST_HEAD_MS,
    lateAnswer: rawErrorAnswer(408, `no complete request within ${REQUEST_HEAD_MS / 1000} s`),
    plainHttpAnswer: rawErrorAnswer(400, 'this port speaks HTTPS: use https://'),
  });
  const heapTrimmer = createHeapTrimmer();
  server.on('connection', () => heapTrimmer.noteActivity());
  server.on('request', () => heapTrimmer.noteActivity());
  // Requests Node's parser rejects (unknown method, bad header, oversize) get
  // the API's JSON error too, instead of a bare "400 Bad Request". Only those:
  // a TLS error (a handshake that failed or never finished) has no HTTP to
  // answer in, and an answer queued behind a handshake that never comes would
  // hold the socket forever.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    const code = String(error.code ?? '');
    if (!/^(HPE_|ERR_HTTP_)/.test(code) || !socket.writable) return socket.destroy();
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(rawErrorAnswer(status, `malformed request (${code})`), () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const reloadTls = (): void => {
    if (!tls || !tlsModules) return;
    try {
      (server as HttpsServer).setSecureContext(tlsModules.material.readTlsMaterial(tls));
      log.info('TLS material reloaded; new connections use it', { 'event.action': 'tls-reload' });
    } catch (error) {
      log.error(`TLS material not reloaded, keeping the previous one: ${(error as Error).message}`, {
        'event.action': 'tls-reload',
      });
    }
  };
  const stopWatching = tls && tlsModules ? tlsModules.material.watchTlsFiles(tls, reloadTls) : () => {};
  const port = (server.address() as AddressInfo).port;
  if (!tls?.clientCaFile && !isLoopback(options.host)) {
    log.warn(
      `the API on ${options.host} lets anyone who can reach it stop Elasticsearch: give --tls-client-ca to require client certificates`,
      { 'event.action': 'api-exposed' },
    );
  }
  log.info(`API listening on ${options.host}:${port}`, {
    'event.action': 'api-listening',
    'server.address': options.host,
    'server.port': port,
  });

  return {
    port,
    reloadTls,
    close: () => {
      stopWatching();
      heapTrimmer.close();
      return guard.close();
    },
  };
}
