// The one place that runs elasticsearch-keystore (and the keystore updater's
// only use of node:child_process). Each call is a JVM launch costing one to
// three seconds, so callers batch.
//
// Each call runs in its own process group and has a deadline. At the deadline,
// or as soon as the CLI's main process has exited, the whole group is killed:
// a child it forked (a wrapper script's `sleep`, a JVM helper) would otherwise
// hold our pipes open and keep the call, and with it the sync and the first
// start of Elasticsearch, waiting forever. A child that left the group
// (setsid) cannot be reached that way; we then stop reading its pipes.

import { Buffer } from 'node:buffer';
import { spawn, type ChildProcessWithoutNullStreams, type StdioOptions } from 'node:child_process';
import type { Logger } from '../log/logger.ts';
import { monotonicMs } from '../clock/clock.ts';
import { childEnvironment } from '../supervisor/child-env.ts';
import { sendSignal } from '../supervisor/signal-process.ts';
import { describeSpawnError } from '../supervisor/spawn-error.ts';

/** A JVM stuck on something (a full disk, a lock) must not hold syncs forever; a slow one in a starved pod takes a minute or two. */
const CLI_DEADLINE_MS = 120_000;
/** How long the pipes may stay open once the CLI's main process has exited and its group is killed. */
const PIPE_GRACE_MS = 2_000;
/** Output kept per stream: the last bytes, where `ERROR: ...` is. A CLI printing without end must not fill our memory. */
const MAX_OUTPUT_BYTES = 64 * 1024;

export type CliResult =
  | {
      readonly kind: 'exited';
      readonly code: number | null;
      readonly signal: string | null;
      readonly stdout: string;
      readonly stderr: string;
    }
  | { readonly kind: 'timedOut'; readonly deadlineMs: number; readonly stderr: string }
  | { readonly kind: 'spawnFailed'; readonly reason: string };

/**
 * `configDir`: ES_PATH_CONF for this call, the directory holding the elasticsearch.keystore it works on (it must exist:
 * the CLI's launcher falls back to its working directory otherwise).
 * `inheritFds`: descriptors of ours the CLI gets as its fds 3, 4, ... (for add-file's /dev/fd/N paths).
 * They stay ours: the caller closes them once the call has settled.
 */
export type CliRunner = (
  configDir: string,
  args: readonly string[],
  stdin: string,
  inheritFds?: readonly number[],
) => Promise<CliResult>;

export interface CliRunnerOptions {
  /** The manager's environment, which the CLI's is made from. */
  readonly env?: NodeJS.ProcessEnv;
  /** How long a call may take before its group is killed; only tests choose a shorter one. */
  readonly deadlineMs?: number;
}

export function createCliRunner(binary: string, log: Logger, options: CliRunnerOptions = {}): CliRunner {
  // Our passwords stay out of its environment.
  const baseEnv = childEnvironment(options.env ?? process.env);
  const deadlineMs = options.deadlineMs ?? CLI_DEADLINE_MS;
  return (configDir, args, stdin, inheritFds = []) =>
    new Promise((resolve) => {
      const started = monotonicMs();
      // detached: setsid(2), so the CLI and everything it forks share a process group we can kill whole.
      // Pipes for 0-2 whatever follows them, which only node's typings cannot tell from a spread.
      const stdio: StdioOptions = ['pipe', 'pipe', 'pipe', ...inheritFds];
      let spawned: ReturnType<typeof spawn>;
      try {
        spawned = spawn(binary, args, { env: { ...baseEnv, ES_PATH_CONF: configDir }, stdio, detached: true });
      } catch (error) {
        resolve(spawnFailure(binary, error as NodeJS.ErrnoException));
        return;
      }
      // Out of descriptors (EMFILE) the pipes are never made: no stream exists to listen on, and the 'error'
      // event follows. Nothing may touch them before that handler is in place, or the throw ends the manager.
      if (spawned.stdin === null || spawned.stdout === null || spawned.stderr === null || spawned.pid === undefined) {
        spawned.once('error', (error: NodeJS.ErrnoException) => resolve(spawnFailure(binary, error)));
        spawned.stdin?.destroy();
        spawned.stdout?.destroy();
        spawned.stderr?.destroy();
        return;
      }
      const child = spawned as ChildProcessWithoutNullStreams;
      const stdout = createTail();
      const stderr = createTail();
      child.stdout.on('data', stdout.push);
      child.stderr.on('data', stderr.push);
      // EPIPE when the CLI exits without reading its stdin (no password asked): harmless.
      child.stdin.on('error', () => {});
      child.stdin.end(stdin);
      let hasTimedOut = false;
      let isSettled = false;
      let graceTimer: ReturnType<typeof setTimeout> | undefined;
      const killGroup = (reason: string): void => {
        if (child.pid !== undefined) sendSignal({ kind: 'group', pid: child.pid }, 'SIGKILL', reason, log);
      };
      const settle = (result: CliResult): void => {
        if (isSettled) return;
        isSettled = true;
        clearTimeout(deadline);
        clearTimeout(graceTimer);
        // A stray outside the group may still hold the pipes: stop listening, or they keep our loop alive.
        child.stdout.destroy();
        child.stderr.destroy();
        resolve(result);
      };
      const deadline = setTimeout(() => {
        hasTimedOut = true;
        killGroup(`elasticsearch-keystore ${args[0]} gave no answer within ${deadlineMs / 1000} s`);
      }, deadlineMs);
      child.once('error', (error: NodeJS.ErrnoException) => settle(spawnFailure(binary, error)));
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        const durationMs = Math.round(monotonicMs() - started);
        log.debug(`elasticsearch-keystore ${args[0]} exited with ${code ?? signal} after ${durationMs} ms`, {
          'event.action': 'keystore-cli',
          'process.args_count': args.length,
          'process.exit_code': code,
          'event.duration': durationMs * 1e6,
        });
        if (hasTimedOut) settle({ kind: 'timedOut', deadlineMs, stderr: stderr.text() });
        else settle({ kind: 'exited', code, signal, stdout: stdout.text(), stderr: stderr.text() });
      };
      child.once('exit', (code, signal) => {
        // Whatever is left in the group is a stray of a finished call.
        if (!hasTimedOut) killGroup(`elasticsearch-keystore ${args[0]} exited; clearing what it left running`);
        graceTimer = setTimeout(() => finish(code, signal), PIPE_GRACE_MS);
        child.once('close', () => finish(code, signal));
      });
    });
}

/** Expected: ENOENT (wrong KEYSTORE_BINARY, or not an ES image), EACCES (not executable), EMFILE (a failed pass, retried). */
function spawnFailure(binary: string, error: NodeJS.ErrnoException): CliResult {
  return { kind: 'spawnFailed', reason: describeSpawnError('KEYSTORE_BINARY', binary, error).detail };
}

/** Keeps the last MAX_OUTPUT_BYTES of a stream. */
function createTail() {
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    push: (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > 2 * MAX_OUTPUT_BYTES) {
        const kept = Buffer.concat(chunks).subarray(-MAX_OUTPUT_BYTES);
        chunks = [kept];
        size = kept.length;
      }
    },
    text: (): string => Buffer.concat(chunks).subarray(-MAX_OUTPUT_BYTES).toString('utf8'),
  };
}

/** The line that says what went wrong: `ERROR: ...`, else the exception's first line. */
export function cliErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const line =
    lines.find((l) => l.startsWith('ERROR:')) ?? lines.find((l) => !l.startsWith('at ')) ?? 'no error message';
  return line.length > 400 ? `${line.slice(0, 400)}...` : line;
}
