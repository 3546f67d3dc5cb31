// The one owner of the supervised process: its pid, its state, its exit
// status. Mutations (API calls, the manager's own shutdown, restarts after a
// crash) run one at a time through a queue, so two starts give one process
// and a stop issued while starting ends stopped.

import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { livingGroupMembers } from './process-group.ts';
import { sendSignal } from './signal-process.ts';
import { exitStatusNumber, spawnProcess, type ExitStatus, type RunningProcess } from './spawn-process.ts';
import { readStateFile, writeStateFile, type LastExit } from './state-file.ts';
import { END_STATE_AT_BOOT, STARTABLE_STATES, TRANSITIONS, type Desired, type Event, type State } from './states.ts';
import { createRestartBackoff } from './restart-backoff.ts';

export interface ProcessStatus {
  readonly name: string;
  readonly state: State;
  readonly pid: number | null;
  readonly since: string;
  readonly startedAt: string | null;
  readonly lastExit: LastExit | null;
  readonly restarts: number;
  readonly desired: Desired;
}

export type ExitCause = 'stop' | 'kill' | 'restart' | 'shutdown' | 'unexpected';

export interface SupervisorCounters {
  starts: number;
  spawnFailures: number;
  exits: Record<ExitCause, number>;
}

export interface SupervisorDeps {
  readonly log: Logger;
  /** The process died unasked and --on-exit is exit: the manager should exit with this status. */
  readonly onExitRequested: (status: number) => void;
}

export type StartOutcome = { readonly kind: 'started' | 'alreadyRunning' } | { readonly kind: 'spawnFailed'; readonly reason: string };

/** Thrown by start() while something (the cert initializer) holds starts back. */
export class StartBlockedError extends Error {}

/** Leftovers that survive SIGKILL this long are in uninterruptible sleep; report and move on. */
const LEFTOVER_DEADLINE_MS = 10_000;
const GROUP_POLL_MS = 10;

export type Supervisor = ReturnType<typeof createSupervisor>;

export function createSupervisor(config: Config, deps: SupervisorDeps) {
  const { log } = deps;
  const signalNumbers = os.constants.signals as Record<string, number>;
  const backoff = createRestartBackoff();
  const counters: SupervisorCounters = { starts: 0, spawnFailures: 0, exits: { stop: 0, kill: 0, restart: 0, shutdown: 0, unexpected: 0 } };
  let state: State = 'notStarted';
  let since = new Date().toISOString();
  let startedAt: string | null = null;
  let desired: Desired = 'started';
  let lastExit: LastExit | null = null;
  let restarts = 0;
  let everStarted = false;
  let child: RunningProcess | null = null;
  /** Set by whoever asks the process to end, before it ends; unset means it died unasked. */
  let exitCause: ExitCause | null = null;
  let queue: Promise<unknown> = Promise.resolve();
  let startBlockedReason: () => string | undefined = () => undefined;
  let shuttingDown = false;

  const serialize = <T>(operation: () => Promise<T>): Promise<T> => {
    const result = queue.then(operation);
    queue = result.catch(() => {});
    return result;
  };

  const persist = (): void => {
    try {
      writeStateFile(config.stateFile, { version: 1, name: config.name, desired, state, lastExit, restarts, updatedAt: since });
    } catch (error) {
      log.error(`cannot write the state file: ${(error as Error).message}`, { 'event.action': 'state-file', 'file.path': config.stateFile });
    }
  };

  const transition = (event: Event, reason: string): void => {
    const to = TRANSITIONS[state][event];
    if (!to) throw new Error(`bug: no transition from ${state} on ${event} (${reason})`);
    log.info(`${config.name} ${state} -> ${to}: ${reason}`, { 'event.action': 'state-change', 'event.reason': reason, 'process.pid': child?.pid ?? null, 'process.state': to });
    state = to;
    since = new Date().toISOString();
    persist();
  };

  const setDesired = (value: Desired): void => {
    if (desired === value) return;
    desired = value;
    persist();
  };

  const status = (): ProcessStatus => ({ name: config.name, state, pid: child?.pid ?? null, since, startedAt, lastExit, restarts, desired });

  /** Kills what the main process left in its group and waits until none of it runs. */
  const clearGroup = async (pgid: number): Promise<void> => {
    const deadline = performance.now() + LEFTOVER_DEADLINE_MS;
    for (let attempt = 0; livingGroupMembers(pgid).length > 0; attempt++) {
      if (attempt % 100 === 0) sendSignal({ kind: 'group', pid: pgid }, 'SIGKILL', 'left in the group after the main process exited', log);
      if (performance.now() > deadline) {
        log.error(`processes of group ${pgid} survive SIGKILL: ${livingGroupMembers(pgid).join(' ')}`, { 'event.action': 'stop' });
        return;
      }
      await sleep(GROUP_POLL_MS);
    }
  };

  const recordExit = (exit: ExitStatus): void => {
    lastExit = { code: exit.code, signal: exit.signal, at: new Date().toISOString() };
    const cause = exitCause ?? 'unexpected';
    counters.exits[cause]++;
    log.info(`${config.name} exited with ${exit.code !== null ? `code ${exit.code}` : `signal ${exit.signal}`} (${cause})`, {
      'event.action': 'process-exit',
      'process.pid': child?.pid ?? null,
      'process.exit_code': exit.code,
      'process.signal': exit.signal,
      'event.reason': cause,
    });
  };

  /** Every exit is recorded here, once; an exit nobody asked for is also handled here. */
  const watchExit = (running: RunningProcess): void => {
    void running.exited.then((exit) => {
      recordExit(exit);
      if (exitCause !== null) return; // a stop or kill is waiting on it and takes it from here
      void serialize(async () => {
        if (child !== running) return; // a stop or kill queued before us already cleared it
        await clearGroup(running.pid);
        child = null;
        transition('exitedUnasked', 'the process exited on its own');
        if (shuttingDown) return;
        if (config.onExit === 'exit') deps.onExitRequested(exitStatusNumber(exit, signalNumbers));
        else scheduleRestart();
      });
    });
  };

  const scheduleRestart = (): void => {
    const waitMs = backoff.next(startedAt);
    log.info(`restarting ${config.name} in ${waitMs} ms`, { 'event.action': 'restart-scheduled' });
    backoff.schedule(waitMs, () => void serialize(() => startLocked('restart after an unexpected exit')).catch(() => {}));
  };

  const startLocked = async (reason: string): Promise<StartOutcome> => {
    if (shuttingDown) throw new StartBlockedError('the manager is shutting down');
    const blocked = startBlockedReason();
    if (blocked) throw new StartBlockedError(blocked);
    backoff.cancel();
    setDesired('started');
    if (!STARTABLE_STATES.includes(state)) return { kind: 'alreadyRunning' };
    if (everStarted) restarts++;
    everStarted = true;
    exitCause = null;
    transition('start', reason);
    const spawned = await spawnProcess(config.cmd, config.args);
    counters.starts++;
    if (!spawned.ok) {
      counters.spawnFailures++;
      log.error(spawned.detail, { 'event.action': 'spawn', 'error.code': spawned.code });
      transition('spawnFailed', spawned.reason);
      return { kind: 'spawnFailed', reason: spawned.reason };
    }
    child = spawned.process;
    startedAt = new Date().toISOString();
    transition('spawned', `pid ${child.pid}`);
    watchExit(child);
    return { kind: 'started' };
  };

  /** started -> stopping -> stopped; SIGTERM, then SIGKILL to the group after timeoutMs. */
  const stopLocked = async (timeoutMs: number, cause: ExitCause): Promise<void> => {
    backoff.cancel();
    const running = child;
    if (!running || state !== 'started') return;
    exitCause = cause;
    transition('stop', cause);
    sendSignal({ kind: config.stopScope, pid: running.pid }, 'SIGTERM', cause, log);
    const timer = new AbortController();
    const timedOut = await Promise.race([
      running.exited.then(() => false),
      sleep(timeoutMs, true, { signal: timer.signal }).catch(() => false),
    ]);
    timer.abort();
    if (timedOut) sendSignal({ kind: 'group', pid: running.pid }, 'SIGKILL', `still running ${timeoutMs} ms after SIGTERM`, log);
    await running.exited;
    await clearGroup(running.pid);
    child = null;
    transition('groupGone', timedOut ? 'stopped by SIGKILL after the stop timeout' : 'stopped');
  };

  const killLocked = async (): Promise<void> => {
    backoff.cancel();
    const running = child;
    if (!running || (state !== 'started' && state !== 'stopping')) return;
    exitCause = 'kill';
    transition('kill', 'kill requested');
    sendSignal({ kind: 'group', pid: running.pid }, 'SIGKILL', 'kill requested', log);
    await running.exited;
    await clearGroup(running.pid);
    child = null;
    transition('groupGone', 'killed');
  };

  return {
    status,
    counters,
    isShuttingDown: () => shuttingDown,
    /** While fn returns a reason, starts are refused with it (the certificate is awaited). */
    holdStartsWhile(fn: () => string | undefined): void {
      startBlockedReason = fn;
    },

    /** Restores the persisted intent; true when the process should be started now. */
    restoreFromStateFile(): boolean {
      const read = readStateFile(config.stateFile);
      if (read.kind === 'corrupt') {
        log.warn(`ignoring the state file: ${read.reason}`, { 'event.action': 'state-file', 'file.path': read.keptAs ?? config.stateFile });
      }
      if (read.kind !== 'valid') return true;
      desired = read.state.desired;
      lastExit = read.state.lastExit;
      restarts = read.state.restarts;
      everStarted = true;
      state = END_STATE_AT_BOOT[read.state.state] ?? read.state.state;
      since = new Date().toISOString();
      log.info(`state file says ${config.name} was ${read.state.state} (now ${state}), desired ${desired}`, { 'event.action': 'state-file', 'process.state': state });
      persist();
      if (desired === 'stopped') log.info(`${config.name} stays ${state}: it was stopped through the API; POST /${config.name}/start starts it`, { 'event.action': 'state-file' });
      return desired === 'started';
    },

    start: (reason = 'start requested') => serialize(() => startLocked(reason)),
    stop: () =>
      serialize(async () => {
        setDesired('stopped');
        await stopLocked(config.stopTimeoutMs, 'stop');
      }),
    kill: () =>
      serialize(async () => {
        setDesired('stopped');
        await killLocked();
      }),
    restart: () =>
      serialize(async () => {
        await stopLocked(config.stopTimeoutMs, 'restart');
        return startLocked('restart requested');
      }),

    /** SIGTERM/SIGINT to the manager: stop with --shutdown-timeout; resolves to the manager's exit status. */
    shutdown: async (): Promise<number> => {
      shuttingDown = true;
      backoff.cancel();
      return serialize(async () => {
        const wasRunning = child !== null;
        await stopLocked(config.shutdownTimeoutMs, 'shutdown');
        return wasRunning && lastExit ? exitStatusNumber(lastExit as ExitStatus, signalNumbers) : 0;
      });
    },

    /** A second SIGTERM/SIGINT during shutdown: no more waiting. Bypasses the queue on purpose. */
    killNow(): void {
      if (child) sendSignal({ kind: 'group', pid: child.pid }, 'SIGKILL', 'second termination signal to the manager', log);
    },

    forwardSignal(signal: NodeJS.Signals): void {
      if (child) sendSignal({ kind: 'process', pid: child.pid }, signal, 'forwarded from the manager', log);
    },
  };
}
