// Mutual TLS, decided per route: the certificate is requested during the
// handshake, and every route but the probes (GET /health, and the GET routes
// the caller names: /NAME/ready) refuses a client without a valid one; a
// kubelet's httpGet probe has no certificate to show. 401: no certificate; 403: one that the client CA did not sign, or expired.

import type { MiddlewareHandler } from 'hono';
import type { TLSSocket } from 'node:tls';
import { ApiError } from '../http/errors.ts';
import type { NodeBindings } from '../http/node-bridge.ts';

export function requireClientCertificate(openProbes: readonly string[] = []): MiddlewareHandler {
  const open = new Set(['/health', ...openProbes]);
  return async function requireClientCertificate(c, next) {
    if (c.req.method === 'GET' && open.has(c.req.path)) return next();
    const socket = (c.env as NodeBindings | undefined)?.incoming.socket as TLSSocket | undefined;
    if (!socket || typeof socket.getPeerCertificate !== 'function')
      throw new ApiError(403, 'security_exception', 'client certificates are required and this connection is not TLS');
    if (socket.authorized) return next();
    const presented = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
    if (!presented)
      throw new ApiError(401, 'security_exception', 'a client certificate signed by the API client CA is required', {
        'WWW-Authenticate': 'Certificate',
      });
    throw new ApiError(
      403,
      'security_exception',
      `client certificate refused: ${socket.authorizationError ?? 'not trusted'}`,
    );
  };
}
