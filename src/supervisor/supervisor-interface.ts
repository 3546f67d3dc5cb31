// What the rest of the manager (the API, the metrics, main.ts) sees of the
// supervisor; supervisor.ts implements it.

import type { LastExit } from './state-file.ts';
import type { Desired, State } from './states.ts';

export interface ProcessStatus {
  readonly name: string;
  readonly state: State;
  readonly pid: number | null;
  readonly since: string;
  readonly startedAt: string | null;
  readonly lastExit: LastExit | null;
  readonly restarts: number;
  readonly desired: Desired;
  /** Processes it started that left its process group and outlive it: ended before the next start. */
  readonly strays: readonly number[];
}

export type ExitCause = 'stop' | 'kill' | 'restart' | 'shutdown' | 'unexpected';

export interface SupervisorCounters {
  starts: number;
  spawnFailures: number;
  exits: Record<ExitCause, number>;
}

export type StartOutcome =
  | { readonly kind: 'started' | 'alreadyRunning' }
  | { readonly kind: 'spawnFailed'; readonly reason: string }
  /** A kill overtook the restart's stop: the process stays killed. */
  | { readonly kind: 'killedDuringRestart' };

export interface Supervisor {
  status(): ProcessStatus;
  readonly counters: SupervisorCounters;
  isShuttingDown(): boolean;
  /** Not ready: a stop, restart or shutdown has begun (draining, or SIGTERM sent) and the process is not down yet. */
  isStopping(): boolean;
  /** Waiting --drain-delay before a SIGTERM. */
  isDraining(): boolean;
  /** For /health: the errno code of the last failed state-file write; null once a write succeeds. */
  stateFileError(): string | null;
  /** 'saved' once every state so far is on disk; 'failed' once an attempt to write it failed (it is retried); 'pending' after timeoutMs. */
  stateSaved(timeoutMs: number): Promise<'saved' | 'failed' | 'pending'>;
  /** Before the manager exits: true once every state is on disk, false after timeoutMs. */
  flushState(timeoutMs: number): Promise<boolean>;
  /** For /health: how long ago the process last exited unasked; null if it never did. */
  msSinceUnexpectedExit(): number | null;
  /** While fn returns a reason, starts are refused with it (the certificate is awaited). */
  holdStartsWhile(fn: () => string | undefined): void;
  /** Restores the persisted intent, reading only; true when the process should be started now. */
  restoreFromStateFile(): boolean;
  /** The manager will run (its lock is held, its API listens): an unusable file is moved aside and the state is written from now on. */
  takeOverStateFile(): void;
  /** guard runs first, in turn with every other operation; when it throws, nothing happens. */
  start(reason?: string, guard?: () => Promise<void>): Promise<StartOutcome>;
  /** Resolves once nothing of the group is left. */
  stop(): Promise<void>;
  /** Escalates a stop or restart under way; resolves once nothing of the group is left. */
  kill(): Promise<void>;
  restart(guard?: () => Promise<void>): Promise<StartOutcome>;
  /** SIGTERM/SIGINT to the manager: stop with --shutdown-timeout; resolves to the manager's exit status. */
  shutdown(): Promise<number>;
  /** A second SIGTERM/SIGINT during shutdown: no more waiting. */
  killNow(): void;
  /** To the main pid, never the group; the pid it reached, or null when no process runs. */
  forwardSignal(signal: NodeJS.Signals, reason?: string): number | null;
}

/** Thrown by start() while something (the cert initializer) holds starts back. */
export class StartBlockedError extends Error {}
