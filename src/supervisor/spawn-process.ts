// Starts the supervised process in a process group of its own, so that a
// stop can reach every process Elasticsearch forked (the ML controller), and
// so that a Ctrl-C in the manager's terminal does not hit Elasticsearch.

import { spawn } from 'node:child_process';
import { childEnvironment } from './child-env.ts';
import { SUPERVISED_MARKER } from './marked-processes.ts';
import { describeSpawnError } from './spawn-error.ts';

export interface ExitStatus {
  /** Exit code, or null when a signal ended it; never folded into one number. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningProcess {
  readonly pid: number;
  /** Settles once, when the main process has exited (libuv reaped it). */
  readonly exited: Promise<ExitStatus>;
}

export type SpawnResult =
  | { readonly ok: true; readonly process: RunningProcess }
  /** reason names no path (it reaches API clients); detail does, for the log. */
  | { readonly ok: false; readonly reason: string; readonly detail: string; readonly code: string };

/** marker goes into the environment of the process and so of all it starts: marked-processes.ts finds them by it. */
export async function spawnProcess(cmd: string, args: readonly string[], marker: string): Promise<SpawnResult> {
  const child = spawn(cmd, args, {
    detached: true,
    stdio: 'inherit',
    env: { ...childEnvironment(process.env), [SUPERVISED_MARKER]: marker },
  });
  // 'exit' never comes before 'spawn', but listen now so nothing is missed.
  const exited = new Promise<ExitStatus>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const spawnError = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (error) => resolve(error));
  });
  // Later 'error' events (a failed kill) are reported where they happen; do not let them crash us.
  child.on('error', () => {});
  if (spawnError || child.pid === undefined) return { ok: false, ...describeSpawnError('--cmd', cmd, spawnError) };
  return { ok: true, process: { pid: child.pid, exited } };
}

/** The conventional one-number status: the code, or 128 + the signal's number. */
export function exitStatusNumber(status: ExitStatus, signalNumbers: Readonly<Record<string, number>>): number {
  if (status.code !== null) return status.code;
  return 128 + (status.signal ? (signalNumbers[status.signal] ?? 0) : 0);
}
