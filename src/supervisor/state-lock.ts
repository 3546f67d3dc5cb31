// One manager per state file: two would run two Elasticsearch processes and
// overwrite each other's record. The lock is an abstract Unix socket (Linux)
// whose name is derived from the state file's directory (device and inode:
// the same whatever path a container mounts the emptyDir at) and file name.
// Why a socket and not a lock file:
//   - the kernel releases it when the holder ends, SIGKILL and OOM kill
//     included, so there is never a stale lock to judge; a pid file would
//     have to be judged, and a pid means nothing in another container's PID
//     namespace (a container restart gets a new one, where the old pid may
//     belong to anybody);
//   - bind() is atomic: of managers racing, exactly one wins;
//   - it needs no native addon (Node has no flock) and no helper process;
//   - its scope is the network namespace, which every container of a pod
//     shares: exactly the processes that can share an emptyDir. Managers in
//     different network namespaces sharing one host directory are not seen.
// The listening descriptor is close-on-exec: Elasticsearch and the keystore
// CLI never inherit it, so the lock ends with the manager, not with them.
// The holder answers each connection with its pid, which the loser names.

import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { configError } from '../config/errors.ts';

export interface StateLock {
  /** The abstract socket's name without its leading NUL, as /proc/net/unix shows it after an @. */
  readonly name: string;
  release(): void;
}

const LOCK_PREFIX = 'process-manager/state-lock/';
/** sun_path holds 108 bytes; an abstract name takes all but its leading NUL. */
const MAX_ABSTRACT_NAME_BYTES = 107;

/** How long the loser waits for the holder to say its pid; a holder whose event loop is stuck stays unnamed. */
const HOLDER_ANSWER_MS = 2_000;
/** A pid and a newline. */
const HOLDER_ANSWER_BYTES = 32;

export async function acquireStateLock(stateFile: string): Promise<StateLock> {
  const name = await lockName(stateFile);
  const server = net.createServer((connection) => {
    connection.on('error', () => {});
    connection.end(`${process.pid}\n`);
  });
  const taken = await new Promise<boolean>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(false) : reject(error),
    );
    server.listen(`\0${name}`, () => resolve(true));
  }).catch((error: Error) => {
    throw configError(`--state-file ${stateFile}: cannot take its lock: ${error.message}`);
  });
  if (!taken) {
    const pid = await holderPid(name);
    throw configError(
      `--state-file ${stateFile}: another manager (${pid === null ? 'it does not say its pid' : `pid ${pid}`}) is using this state file; only one manager may supervise through it`,
    );
  }
  // The lock must not keep the process alive on its own, nor let a stray connection error end it.
  server.unref();
  server.on('error', () => {});
  return { name, release: () => server.close() };
}

/**
 * The directory's identity, not its path: containers may mount one emptyDir at different paths. The directory is
 * created first (the state file's writer would create it anyway): named by an ancestor while it is missing, the lock
 * would change name once the holder's first write created it. Only if it cannot be created is it named by its nearest
 * existing ancestor and the rest of the path.
 */
async function lockName(stateFile: string): Promise<string> {
  let existing = path.dirname(path.resolve(stateFile));
  let rest = path.basename(stateFile);
  try {
    fs.mkdirSync(existing, { recursive: true });
  } catch {
    // Read-only or not ours: the writes will fail and say so; the lock still works.
  }
  for (;;) {
    const stat = fs.statSync(existing, { throwIfNoEntry: false });
    if (stat) {
      const identity = `${stat.dev}:${stat.ino}/${rest}`;
      const name = `${LOCK_PREFIX}${identity}`;
      if (Buffer.byteLength(name) <= MAX_ABSTRACT_NAME_BYTES) return name;
      // A file name too long for a socket address: its hash instead. Rare, so node:crypto loads only then, never
      // before the API can answer (issue 20).
      const { createHash } = await import('node:crypto');
      return `${LOCK_PREFIX}${createHash('sha256').update(identity).digest('hex').slice(0, 32)}`;
    }
    rest = path.join(path.basename(existing), rest);
    existing = path.dirname(existing);
  }
}

function holderPid(name: string): Promise<number | null> {
  return new Promise((resolve) => {
    let answer = '';
    const connection = net.connect(`\0${name}`);
    const done = (pid: number | null): void => {
      clearTimeout(timer);
      connection.destroy();
      resolve(pid);
    };
    const timer = setTimeout(() => done(null), HOLDER_ANSWER_MS);
    connection.setEncoding('utf8');
    connection.on('data', (chunk: string) => {
      answer += chunk;
      if (answer.length > HOLDER_ANSWER_BYTES) done(null);
    });
    connection.on('end', () => done(/^\d+\n$/.test(answer) ? Number(answer) : null));
    connection.on('error', () => done(null));
  });
}
