// GET /health is open to anyone who can reach the port (kubelet probes have
// no client certificate), so what it shows them names no file: where the
// Secret is mounted, the keystore, the key and certificate paths tell an
// attacker where to look. Rather than trust every component's fields and
// reasons to stay free of paths (a reason quotes the error that names its
// file), the open answer is scrubbed as a whole: every absolute path in every
// string becomes <path>. A client that proved itself (a valid client
// certificate, or the Unix socket) sees the answer as it is.

import type { Context } from 'hono';
import type { TLSSocket } from 'node:tls';
import { isUnixSocketRequest } from './audit.ts';
import type { NodeBindings } from '../http/node-bridge.ts';

export const HIDDEN_PATH = '<path>';

/**
 * An absolute path: a slash at the start of a word (after a space, a quote, a bracket, "=" or ","; the "//" of a URL
 * follows its scheme's ":" and is not one), up to a space, a quote, a bracket or a separator. A ":" or "." that ends
 * it belongs to the sentence ("cannot read /a/b: EACCES").
 */
const ABSOLUTE_PATH = /(?<=^|[\s(['"=,])\/[^\s'"()[\],;]*/g;

const hideOne = (path: string): string => HIDDEN_PATH + /[:.]*$/.exec(path)![0];

/** The value with every absolute path in its strings, at any depth, replaced. */
export function hidePaths<T>(value: T): T {
  if (typeof value === 'string') return value.replace(ABSOLUTE_PATH, hideOne) as T;
  if (Array.isArray(value)) return value.map(hidePaths) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, hidePaths(field)])) as T;
  }
  return value;
}

/** Whether the request proved who sent it: over the Unix socket (mode 0600), or with a client certificate the CA signed. */
export function isAuthenticated(c: Context): boolean {
  if (isUnixSocketRequest(c)) return true;
  return isAuthenticatedSocket((c.env as NodeBindings | undefined)?.incoming?.socket);
}

/** A TCP connection proved who is on it: a client certificate the CA signed. */
export function isAuthenticatedSocket(socket: unknown): boolean {
  const tls = socket as TLSSocket | undefined;
  return (
    tls?.authorized === true &&
    typeof tls.getPeerCertificate === 'function' &&
    Object.keys(tls.getPeerCertificate() ?? {}).length > 0
  );
}
