// Runs the built executable for a test and gives it eyes and hands: its log
// lines, its API, and a clean teardown that kills everything it started.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor, within } from './wait.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const EXECUTABLE =
  process.env.PM_EXECUTABLE ?? path.resolve(ROOT, process.env.BUILD_DIR ?? 'dist', 'process-manager');
export const FAKE_ES = path.join(ROOT, 'test/fixtures/es/fake-es');

export interface LogRecord {
  readonly message: string;
  readonly 'event.action'?: string;
  readonly [field: string]: unknown;
}

export interface RunningManager {
  readonly child: ChildProcess;
  readonly logs: LogRecord[];
  /** Whatever stdout/stderr carried that is not a JSON log line (the supervised process's output, errors). */
  readonly output: string[];
  port: number;
  /** How the polite teardown asks it to end; a test running it in a namespace points this at PID 1. */
  terminate: () => void;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  request(
    method: string,
    route: string,
    body?: string,
  ): Promise<{ status: number; headers: Headers; json: any; text: string }>;
  waitForLog(predicate: (record: LogRecord) => boolean, what: string, timeoutMs?: number): Promise<LogRecord>;
  status(): Promise<any>;
}

export interface StartOptions {
  readonly args?: readonly string[];
  readonly env?: Record<string, string | undefined>;
  /** Wrap the command, e.g. ['unshare', '--pid', '--fork', '--mount-proc']. */
  readonly wrapper?: readonly string[];
  /** Run this copy instead of the built one (an installed copy). */
  readonly executable?: string;
  /** The manager's working directory (default: the test's). */
  readonly cwd?: string;
  /** Resolve without waiting for the API (tests of start-up failures). */
  readonly waitForApi?: boolean;
}

const running = new Set<ChildProcess>();

const temporaryDirs: string[] = [];
process.on('exit', () => temporaryDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A fresh temporary directory removed when the test process exits. */
export function tempDir(prefix = 'pm-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temporaryDirs.push(dir);
  return dir;
}

export async function startManager(options: StartOptions = {}): Promise<RunningManager> {
  // A wrapper that ends in a program of its own (deno run -A src/main.ts) replaces the executable.
  const wrapped = options.wrapper?.some((word) => word.endsWith('.ts'))
    ? [...options.wrapper]
    : [...(options.wrapper ?? []), options.executable ?? EXECUTABLE];
  const argv = [...wrapped, '--http-port', '0', ...(options.args ?? [])];
  // A non-interactive shell starts background jobs with SIGINT ignored; a container runtime does not.
  const child = spawn(argv[0], argv.slice(1), {
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  const logs: LogRecord[] = [];
  const output: string[] = [];
  const waiters = new Set<() => void>();
  const onLine = (line: string): void => {
    if (line.startsWith('{"@timestamp"')) logs.push(JSON.parse(line));
    else if (line !== '') output.push(line);
    for (const wake of waiters) wake();
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let pending = '';
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(onLine);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      setImmediate(() => {
        resolve({ code, signal });
        for (const wake of waiters) wake();
      });
    }),
  );
  let exitedYet = false;
  void exited.then(() => (exitedYet = true));

  const manager: RunningManager = {
    child,
    logs,
    output,
    port: 0,
    terminate: () => child.kill('SIGTERM'),
    exited,
    async request(method, route, body) {
      return readAnswer(
        await fetch(`http://127.0.0.1:${manager.port}${route}`, { method, body, signal: AbortSignal.timeout(60_000) }),
      );
    },
    waitForLog(predicate, what, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = logs.find(predicate);
          if (found) return finish(() => resolve(found));
          if (exitedYet) return finish(() => reject(new Error(`manager exited before: ${what}\n${dump()}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`timed out waiting for: ${what}\n${dump()}`))),
          timeoutMs,
        );
        const finish = (settle: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    async status() {
      return (await manager.request('GET', '/es/status')).json;
    },
  };
  const dump = (): string => [...logs.map((l) => JSON.stringify(l)), ...output].join('\n');
  if (options.waitForApi !== false) {
    const listening = await manager.waitForLog((r) => r['event.action'] === 'api-listening', 'the API to listen');
    manager.port = listening['server.port'] as number;
  }
  return manager;
}

/** A port nobody listened on a moment ago, for tests that must know the port in advance. */
/** An answer of the API, read whole: its JSON when the body is JSON, undefined otherwise. */
export async function readAnswer(
  response: Response,
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// Waiting lives in wait.ts; re-exported for the many tests that import it from here.
export { waitFor, within };

/** True while the pid exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The polite teardown: SIGTERM (the manager stops its process), then SIGKILL if it hangs. */
export async function stopManager(manager: RunningManager, timeoutMs = 30_000): Promise<void> {
  if (manager.child.exitCode !== null || manager.child.signalCode !== null) return;
  manager.terminate();
  const timer = setTimeout(() => {
    try {
      process.kill(-manager.child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, timeoutMs);
  await within(manager.exited, 'the manager to exit after SIGTERM and SIGKILL', timeoutMs + 30_000);
  clearTimeout(timer);
}

/** Kill every manager a test left running, with everything in its process group. */
function killAllManagers(): void {
  for (const child of running) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', killAllManagers);
