// The one place that runs elasticsearch-keystore (and the keystore updater's
// only use of node:child_process). Each call is a JVM launch costing one to
// three seconds, so callers batch.

import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Logger } from '../log/logger.ts';
import { childEnvironment } from '../supervisor/child-env.ts';

/** A JVM stuck on something (a full disk, a lock) must not hold syncs forever. */
const CLI_TIMEOUT_MS = 120_000;

export type CliResult =
  | { readonly kind: 'exited'; readonly code: number | null; readonly signal: string | null; readonly stdout: string; readonly stderr: string }
  | { readonly kind: 'spawnFailed'; readonly reason: string };

export type CliRunner = (args: readonly string[], stdin: string) => Promise<CliResult>;

/** Runs `binary args...` with ES_PATH_CONF set so the CLI writes `keystorePath`. */
export function createCliRunner(binary: string, keystorePath: string, log: Logger): CliRunner {
  // The CLI only knows $ES_PATH_CONF/elasticsearch.keystore; our passwords stay out of its environment.
  const env = { ...childEnvironment(process.env), ES_PATH_CONF: path.dirname(keystorePath) };
  return (args, stdin) =>
    new Promise((resolve) => {
      const started = performance.now();
      const child = spawn(binary, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      // EPIPE when the CLI exits without reading its stdin (no password asked): harmless.
      child.stdin.on('error', () => {});
      child.stdin.end(stdin);
      let hasTimedOut = false;
      const timer = setTimeout(() => {
        hasTimedOut = true;
        child.kill('SIGKILL');
      }, CLI_TIMEOUT_MS);
      child.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve({ kind: 'spawnFailed', reason: describeSpawnError(binary, error) });
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const durationMs = Math.round(performance.now() - started);
        log.debug(`elasticsearch-keystore ${args[0]} exited with ${code ?? signal} after ${durationMs} ms`, {
          'event.action': 'keystore-cli',
          'process.args_count': args.length,
          'process.exit_code': code,
          'event.duration': durationMs * 1e6,
        });
        resolve({
          kind: 'exited',
          code,
          signal: hasTimedOut ? `SIGKILL (no answer within ${CLI_TIMEOUT_MS / 1000} s)` : signal,
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
        });
      });
    });
}

function describeSpawnError(binary: string, error: NodeJS.ErrnoException): string {
  // Expected: ENOENT (wrong KEYSTORE_BINARY, or not an ES image), EACCES (not executable).
  if (error.code === 'ENOENT') return `KEYSTORE_BINARY ${binary} not found`;
  if (error.code === 'EACCES') return `KEYSTORE_BINARY ${binary} is not executable (permission denied)`;
  return `cannot run KEYSTORE_BINARY ${binary}: ${error.message}`;
}

/** The line that says what went wrong: `ERROR: ...`, else the exception's first line. */
export function cliErrorLine(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter(Boolean);
  const line = lines.find((l) => l.startsWith('ERROR:')) ?? lines.find((l) => !l.startsWith('at ')) ?? 'no error message';
  return line.length > 400 ? `${line.slice(0, 400)}...` : line;
}
