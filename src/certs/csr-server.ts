// Serves the CSR at GET /csr until the signed certificate arrives. Plain
// node:http rather than the API's Hono stack: one route, no middleware, and a
// lifetime of its own that ends with closing the port (close() plus dropping
// idle keep-alive connections, so nothing answers afterwards).
//
// It listens on every address, IPv4 and IPv6 (Node's default when no host is
// given: "::" dual-stack, "0.0.0.0" where IPv6 is unavailable), because the
// operator fetches the CSR from the pod IP, which is IPv6 in IPv6 clusters.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { guardConnections } from '../http/connection-guard.ts';
import { errorBody } from '../http/errors.ts';

export interface CsrServer {
  readonly port: number;
  close(): Promise<void>;
}

const CSR_ROUTE = '/csr';
// The operator's client gives up after 10 s; nobody legitimate needs longer.
const REQUEST_TIMEOUT_MS = 10_000;
// One operator fetches one CSR: a few connections at most. The cap keeps a
// flood from taking the file descriptors the API and the process need.
const MAX_CONNECTIONS = 64;

export async function serveCsr(
  pem: string,
  port: number,
  onServed: (remoteAddress: string) => void,
): Promise<CsrServer> {
  const server = http.createServer((request, response) => {
    const route = (request.url ?? '/').split('?')[0];
    if (route !== CSR_ROUTE)
      return sendError(
        response,
        404,
        'resource_not_found_exception',
        `no route ${request.method} ${route}; the CSR is at GET ${CSR_ROUTE}`,
      );
    if (request.method !== 'GET') {
      response.setHeader('Allow', 'GET');
      return sendError(response, 405, 'method_not_allowed_exception', `${CSR_ROUTE} accepts GET only`);
    }
    response.writeHead(200, {
      'Content-Type': 'application/pkcs10',
      'Content-Length': Buffer.byteLength(pem),
      'Cache-Control': 'no-store',
    });
    response.end(pem);
    onServed(request.socket.remoteAddress ?? 'unknown');
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = 5_000;
  const guard = guardConnections(server, { maxConnections: MAX_CONNECTIONS, requestHeadMs: REQUEST_TIMEOUT_MS });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => guard.close(),
  };
}

// Errors in Elasticsearch's shape, as the API answers them.
function sendError(response: http.ServerResponse, status: number, type: string, reason: string): void {
  const body = JSON.stringify(errorBody(status, type, reason));
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}
