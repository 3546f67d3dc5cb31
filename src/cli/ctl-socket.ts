// One HTTP request over the manager's Unix socket, and what it means when no
// answer comes, in the words of what is true (see `ctl` in docs/contract.md).

import fs from 'node:fs';
import http from 'node:http';
import { CTL_EXIT } from '../config/ctl-help.ts';
import { errnoCode } from '../files/errno.ts';

/** Reads answer at once; a stop waits for the stop timeout and the group to go, however long that is. */
const READ_TIMEOUT_MS = 30_000;

export interface Answer {
  readonly status: number;
  readonly body: string;
}

/** readTimeoutMs bounds a GET (a mutation waits as long as the manager takes). */
export function send(
  socketPath: string,
  method: 'GET' | 'POST',
  route: string,
  readTimeoutMs = READ_TIMEOUT_MS,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request({ socketPath, method, path: route, headers: { connection: 'close' } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    if (method === 'GET')
      request.setTimeout(readTimeoutMs, () =>
        request.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })),
      );
    request.on('error', reject);
    request.end();
  });
}

/**
 * Nothing there, a socket nobody listens on, a socket we may not open, or a
 * manager that is there but did not answer (busy, or exiting): only the last
 * is worth asking again (TEMPFAIL).
 */
export function describeFailure(socketPath: string, error: unknown): { exit: number; text: string } {
  const code = errnoCode(error) ?? (error as Error).message;
  switch (code) {
    case 'ENOENT':
      return {
        exit: CTL_EXIT.UNAVAILABLE,
        text: `no socket at ${socketPath} (ENOENT): no manager runs with this --socket or --state-file, or it could not create the socket (its log says socket-unavailable)`,
      };
    case 'ECONNREFUSED': {
      const stat = fs.lstatSync(socketPath, { throwIfNoEntry: false });
      if (stat && !stat.isSocket()) {
        return {
          exit: CTL_EXIT.UNAVAILABLE,
          text: `${socketPath} is not a socket (ECONNREFUSED): a file is in the way, so the manager serves no socket there (its log says socket-unavailable)`,
        };
      }
      return {
        exit: CTL_EXIT.UNAVAILABLE,
        text: `nobody listens on ${socketPath} (ECONNREFUSED): the manager that created it is gone`,
      };
    }
    case 'EACCES':
    case 'EPERM':
      return {
        exit: CTL_EXIT.NO_PERMISSION,
        text: `permission denied on ${socketPath} (${code}): ${ownerOf(socketPath)}`,
      };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ETIMEDOUT':
      return {
        exit: CTL_EXIT.TEMPFAIL,
        text: `the manager on ${socketPath} did not answer (${code}): it is busy (every connection taken by requests that wait) or exiting; try again`,
      };
    default:
      return { exit: CTL_EXIT.UNAVAILABLE, text: `no manager answers on ${socketPath}: ${code}` };
  }
}

/** Who may open the socket: its owner (mode 0600), or root. */
function ownerOf(socketPath: string): string {
  const uid = process.getuid?.();
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(socketPath);
  } catch {
    return `a directory on its path cannot be searched by uid ${uid}`;
  }
  return `the socket is mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}, owned by uid ${stat.uid}, and this is uid ${uid}: run ctl as uid ${stat.uid} or as root`;
}
