// One run of the supervised process: created when the kernel gives it a pid,
// dropped once nothing of its group is left. Everything that belongs to a
// run lives here, so nothing of one run can leak into the next.

import type { RunningProcess } from './spawn-process.ts';
import type { ExitCause } from './supervisor-interface.ts';

/** Who cuts a drain short: an API kill, or the manager's second termination signal. */
export type DrainCutter = 'api' | 'manager';

export interface Run {
  readonly process: RunningProcess;
  readonly startedAt: string;
  /** Set by whoever asks the process to end, before it ends; null means it died unasked. */
  cause: ExitCause | null;
  /** From the start of a stop (its drain included) until the stop returns: not ready, whatever the process says. */
  stopping: boolean;
  /** Waiting --drain-delay before the SIGTERM; cut() ends the wait with a SIGKILL. */
  drain: { readonly cut: (by: DrainCutter) => void } | null;
  /** SIGTERM sent, waiting for the group to go; a kill escalates it. */
  stop: { readonly timer: AbortController; escalated: boolean } | null;
}

export const createRun = (process: RunningProcess, startedAt: string): Run => ({
  process,
  startedAt,
  cause: null,
  stopping: false,
  drain: null,
  stop: null,
});

/** The first cause wins, except a kill: it overtakes the stop it escalates, and the exit counts as killed. */
export function claimEnd(run: Run, cause: ExitCause): void {
  if (run.cause === null || cause === 'kill') run.cause = cause;
}
