// The one owner of the supervised process: its pid, its state, its exit
// status. Mutations (API calls, the manager's own shutdown, restarts after a
// crash) run one at a time through a queue, so two starts give one process
// and a stop issued while starting ends stopped.

import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { exitStatusNumber, type ExitStatus, type RunningProcess } from './spawn-process.ts';
import type { LastExit } from './state-file.ts';
import { StartBlockedError, type ExitCause, type ProcessStatus, type StartOutcome, type Supervisor, type SupervisorCounters } from './supervisor-interface.ts';
import { END_STATE_AT_BOOT, STARTABLE_STATES, TRANSITIONS, type Desired, type Event, type State } from './states.ts';
import { createRestartBackoff } from './restart-backoff.ts';
import { createStrays } from './strays.ts';
import { nodeSystem, type SupervisorSystem } from './system.ts';
import { createStateWriter } from './state-writer.ts';

export { StartBlockedError, type Supervisor } from './supervisor-interface.ts';

export interface SupervisorDeps {
  readonly log: Logger;
  /** The process died unasked and --on-exit is exit: the manager should exit with this status. */
  readonly onExitRequested: (status: number) => void;
  /** Spawn, signals, group probe, state file and clock; the real ones unless a test passes fakes. */
  readonly system?: SupervisorSystem;
}

/** Leftovers that survive SIGKILL this long are in uninterruptible sleep; report and move on. */
const LEFTOVER_DEADLINE_MS = 10_000;
const GROUP_POLL_MS = 10;

export function createSupervisor(config: Config, deps: SupervisorDeps): Supervisor {
  const { log } = deps;
  const system = deps.system ?? nodeSystem(config.stateFile);
  const { clock } = system;
  const signalNumbers = os.constants.signals as Record<string, number>;
  const backoff = createRestartBackoff(clock);
  const strays = createStrays(system, log, config.name);
  const counters: SupervisorCounters = { starts: 0, spawnFailures: 0, exits: { stop: 0, kill: 0, restart: 0, shutdown: 0, unexpected: 0 } };
  let state: State = 'notStarted';
  let since = clock.now().toISOString();
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
  /** The stop under way (API stop, restart, shutdown), which a kill escalates. */
  let stopUnderWay: { readonly running: RunningProcess; readonly timer: AbortController; escalated: boolean } | null = null;
  let lastUnexpectedExitAt: number | null = null;
  /** Why the state file read at boot was unusable; it is moved aside when the manager takes the file over. */
  let corruptStateFile: string | null = null;
  /** Nothing is written before takeOverStateFile: a manager that cannot run must leave the file as it was. */
  const writer = createStateWriter((persisted) => system.stateStore.write(persisted), { clock, log, file: config.stateFile });
  let isRestored = false;
  /** From the start of a stop's drain until its group is gone: not ready, whatever the process says. */
  let stopping = false;
  /** Cuts the drain under way short with a SIGKILL: `api` for an API kill, else the manager's second termination signal. */
  let cutDrain: ((by: 'api' | 'manager') => void) | null = null;

  const serialize = <T>(operation: () => Promise<T>): Promise<T> => {
    const result = queue.then(operation);
    queue = result.catch(() => {});
    return result;
  };

  // Never waits: the writer puts it on disk off the event loop, and keeps trying while it cannot.
  const persist = (): void => writer.save({ version: 1, name: config.name, desired, state, lastExit, restarts, updatedAt: since });

  const transition = (event: Event, reason: string): void => {
    const to = TRANSITIONS[state][event];
    if (!to) throw new Error(`bug: no transition from ${state} on ${event} (${reason})`);
    log.info(`${config.name} ${state} -> ${to}: ${reason}`, { 'event.action': 'state-change', 'event.reason': reason, 'process.pid': child?.pid ?? null, 'process.state': to });
    state = to;
    since = clock.now().toISOString();
    persist();
  };

  const setDesired = (value: Desired): void => {
    if (desired === value) return;
    desired = value;
    persist();
  };

  const status = (): ProcessStatus => ({ name: config.name, state, pid: child?.pid ?? null, since, startedAt, lastExit, restarts, desired, strays: strays.current() });

  /** Kills what the main process left in its group and waits until none of it runs. */
  const clearGroup = async (pgid: number): Promise<void> => {
    const deadline = clock.monotonicMs() + LEFTOVER_DEADLINE_MS;
    for (let attempt = 0; system.livingGroupMembers(pgid).length > 0; attempt++) {
      if (attempt % 100 === 0) system.signal({ kind: 'group', pid: pgid }, 'SIGKILL', 'left in the group after the main process exited', log);
      if (clock.monotonicMs() > deadline) {
        log.error(`processes of group ${pgid} survive SIGKILL: ${system.livingGroupMembers(pgid).join(' ')}`, { 'event.action': 'stop' });
        return;
      }
      await clock.sleep(GROUP_POLL_MS);
    }
  };

  /** The one way a process leaves: its exit, then its group, then the state that says so. */
  const endProcess = async (running: RunningProcess, event: 'groupGone' | 'exitedUnasked', reason: () => string): Promise<void> => {
    await running.exited;
    await clearGroup(running.pid);
    strays.noteAfterEnd();
    child = null;
    transition(event, reason());
  };

  const recordExit = (exit: ExitStatus): void => {
    lastExit = { code: exit.code, signal: exit.signal, at: clock.now().toISOString() };
    const cause = exitCause ?? 'unexpected';
    counters.exits[cause]++;
    if (cause === 'unexpected') lastUnexpectedExitAt = clock.monotonicMs();
    // Nobody asked: Elasticsearch crashed or was killed from outside, and someone should look.
    log[cause === 'unexpected' ? 'error' : 'info'](`${config.name} exited with ${exit.code !== null ? `code ${exit.code}` : `signal ${exit.signal}`} (${cause})`, {
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
        await endProcess(running, 'exitedUnasked', () => 'the process exited on its own');
        if (shuttingDown) return;
        if (config.onExit === 'exit') deps.onExitRequested(exitStatusNumber(exit, signalNumbers));
        else scheduleRestart();
      });
    });
  };

  const scheduleRestart = (): void => {
    const waitMs = backoff.next();
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
    await strays.endAll(config.stopTimeoutMs);
    const spawned = await system.spawn(config.cmd, config.args);
    counters.starts++;
    if (!spawned.ok) {
      counters.spawnFailures++;
      log.error(spawned.detail, { 'event.action': 'spawn', 'error.code': spawned.code });
      transition('spawnFailed', spawned.reason);
      return { kind: 'spawnFailed', reason: spawned.reason };
    }
    child = spawned.process;
    startedAt = clock.now().toISOString();
    backoff.runStarted();
    transition('spawned', `pid ${child.pid}`);
    watchExit(child);
    return { kind: 'started' };
  };

  /**
   * The drain (--drain-delay), then the stop itself. True when a kill cut the
   * drain or escalated the stop: the process ended killed.
   */
  const stopLocked = async (timeoutMs: number, cause: ExitCause): Promise<boolean> => {
    backoff.cancel();
    const running = child;
    if (!running || state !== 'started') return false;
    stopping = true;
    try {
      exitCause = cause;
      if (config.drainDelayMs > 0 && (await drain(running, cause))) return true;
      return await signalAndWait(running, timeoutMs, cause);
    } finally {
      stopping = false;
    }
  };

  /**
   * Readiness is already false: Services stop routing to the pod while ES
   * still serves what is under way. True when a kill cut it short (the process
   * is then killed here, so nothing queued behind finds it running).
   */
  const drain = async (running: RunningProcess, cause: ExitCause): Promise<boolean> => {
    const timer = new AbortController();
    let cutBy: 'api' | 'manager' | null = null;
    cutDrain = (by) => {
      cutBy = by;
      timer.abort();
    };
    log.info(`${config.name} not ready; SIGTERM in ${config.drainDelayMs} ms (${cause})`, { 'event.action': 'drain', 'process.pid': running.pid });
    try {
      await Promise.race([running.exited, clock.sleep(config.drainDelayMs, timer.signal).catch(() => {})]);
    } finally {
      timer.abort();
      cutDrain = null;
    }
    if (cutBy === null) return false;
    // An API kill is the operator's intent, persisted; a second SIGTERM to the manager only hurries its shutdown.
    const reason = cutBy === 'api' ? 'kill requested during a drain' : 'second termination signal to the manager during a drain';
    if (cutBy === 'api') {
      setDesired('stopped');
      exitCause = 'kill';
    }
    transition('kill', reason);
    system.signal({ kind: 'group', pid: running.pid }, 'SIGKILL', reason, log);
    await endProcess(running, 'groupGone', () => 'killed');
    return true;
  };

  /**
   * started -> stopping -> stopped; SIGTERM, then SIGKILL to the group after timeoutMs.
   * True when a kill escalated it (stopping -> killing -> killed).
   */
  const signalAndWait = async (running: RunningProcess, timeoutMs: number, cause: ExitCause): Promise<boolean> => {
    transition('stop', cause);
    const target = { kind: config.stopScope, pid: running.pid };
    system.signal(target, 'SIGTERM', cause, log);
    // A SIGSTOPped process would hold the TERM until the timeout's SIGKILL: resume it so it runs its handler (runit's `d` does the same).
    system.signal(target, 'SIGCONT', cause, log);
    const stop = { running, timer: new AbortController(), escalated: false };
    stopUnderWay = stop;
    try {
      const timedOut = await Promise.race([
        running.exited.then(() => false),
        clock.sleep(timeoutMs, stop.timer.signal).then(
          () => true,
          () => false, // aborted: it exited, or a kill took over
        ),
      ]);
      stop.timer.abort();
      if (timedOut) {
        // A forced end: Elasticsearch may not have flushed; worth a look, unlike the signal line itself.
        log.warn(`${config.name} still running ${timeoutMs} ms after SIGTERM: sending SIGKILL`, { 'event.action': 'stop-timeout', 'process.pid': running.pid });
        system.signal({ kind: 'group', pid: running.pid }, 'SIGKILL', `still running ${timeoutMs} ms after SIGTERM`, log);
      }
      await endProcess(running, 'groupGone', () => (stop.escalated ? 'killed' : timedOut ? 'stopped by SIGKILL after the stop timeout' : 'stopped'));
    } finally {
      stopUnderWay = null;
    }
    return stop.escalated;
  };

  // stopping -> killing, outside the queue: a kill must not wait out the stop's timeout behind it.
  const escalateStop = (): void => {
    cutDrain?.('api');
    const stop = stopUnderWay;
    if (!stop || stop.escalated || state !== 'stopping') return;
    stop.escalated = true;
    stop.timer.abort();
    setDesired('stopped');
    exitCause = 'kill';
    transition('kill', 'kill requested during a stop');
    system.signal({ kind: 'group', pid: stop.running.pid }, 'SIGKILL', 'kill requested during a stop', log);
  };

  const killLocked = async (): Promise<void> => {
    backoff.cancel();
    const running = child;
    if (!running || state !== 'started') return; // a stop under way was escalated by escalateStop
    exitCause = 'kill';
    transition('kill', 'kill requested');
    system.signal({ kind: 'group', pid: running.pid }, 'SIGKILL', 'kill requested', log);
    await endProcess(running, 'groupGone', () => 'killed');
  };

  return {
    status,
    counters,
    isShuttingDown: () => shuttingDown,
    isStopping: () => stopping || shuttingDown,
    isDraining: () => cutDrain !== null,
    stateFileError: () => writer.error(),
    stateSaved: (timeoutMs) => writer.settled(timeoutMs),
    flushState: (timeoutMs) => writer.flush(timeoutMs),
    msSinceUnexpectedExit: () => (lastUnexpectedExitAt === null ? null : clock.monotonicMs() - lastUnexpectedExitAt),
    holdStartsWhile(fn) {
      startBlockedReason = fn;
    },

    restoreFromStateFile() {
      const read = system.stateStore.read();
      if (read.kind === 'corrupt') corruptStateFile = read.reason;
      if (read.kind !== 'valid') return true;
      isRestored = true;
      desired = read.state.desired;
      lastExit = read.state.lastExit;
      restarts = read.state.restarts;
      everStarted = true;
      state = END_STATE_AT_BOOT[read.state.state] ?? read.state.state;
      since = clock.now().toISOString();
      const fields = { 'event.action': 'state-file', 'process.state': state };
      if (read.state.state === 'exited' && lastExit) {
        // A crash before this container restart (--on-exit exit) counts in /health's window like one seen live.
        // A clock set back since is read as "just now"; an unreadable time counts as no window at all.
        const ageMs = Math.max(0, clock.now().getTime() - Date.parse(lastExit.at));
        if (Number.isFinite(ageMs)) lastUnexpectedExitAt = clock.monotonicMs() - ageMs;
        const how = lastExit.code !== null ? `code ${lastExit.code}` : `signal ${lastExit.signal}`;
        const when = Number.isFinite(ageMs) ? `${Math.round(ageMs / 1000)} s ago` : `at ${lastExit.at}`;
        log.warn(`state file says ${config.name} exited unexpectedly (${how}) ${when}, before this container restart; desired ${desired}`, fields);
      } else if (read.state.state === 'started' || read.state.state === 'starting') {
        log.warn(`state file says ${config.name} was ${read.state.state}: the previous manager ended without stopping it (killed?); desired ${desired}`, fields);
      } else log.info(`state file says ${config.name} was ${read.state.state} (now ${state}), desired ${desired}`, fields);
      if (desired === 'stopped') log.info(`${config.name} stays ${state}: it was stopped through the API; POST /${config.name}/start starts it`, { 'event.action': 'state-file' });
      return desired === 'started';
    },

    takeOverStateFile() {
      // Ours alone now (the lock is held): what a SIGKILL mid-write left behind would otherwise pile up.
      const swept = system.stateStore.sweep();
      if (swept.length > 0) log.info(`removed ${swept.length} temporary files left by interrupted state-file writes: ${swept.join(' ')}`, { 'event.action': 'state-file', 'file.directory': path.dirname(config.stateFile) });
      if (corruptStateFile !== null) {
        const keptAs = system.stateStore.keepAside();
        log.warn(`ignoring the state file: ${corruptStateFile}${keptAs ? '; kept as ' + keptAs : ''}`, { 'event.action': 'state-file', 'file.path': keptAs ?? config.stateFile });
      }
      writer.open();
      // The state resolved from the file is written back; with no file, the first transition writes one.
      if (isRestored) persist();
    },

    start: (reason = 'start requested', guard) =>
      serialize(async () => {
        await guard?.();
        return startLocked(reason);
      }),
    stop: () =>
      serialize(async () => {
        setDesired('stopped');
        await stopLocked(config.stopTimeoutMs, 'stop');
      }),
    kill: async () => {
      escalateStop();
      // Still queued: whatever was asked after the stop it escalated (a start) is killed too.
      return serialize(async () => {
        setDesired('stopped');
        await killLocked();
      });
    },
    restart: (guard) =>
      serialize(async () => {
        await guard?.();
        if (await stopLocked(config.stopTimeoutMs, 'restart')) return { kind: 'killedDuringRestart' } as const;
        return startLocked('restart requested');
      }),

    shutdown: async () => {
      shuttingDown = true;
      backoff.cancel();
      return serialize(async () => {
        const wasRunning = child !== null;
        await stopLocked(config.shutdownTimeoutMs, 'shutdown');
        return wasRunning && lastExit ? exitStatusNumber(lastExit as ExitStatus, signalNumbers) : 0;
      });
    },

    // Bypasses the queue on purpose.
    killNow() {
      if (cutDrain) cutDrain('manager'); // the shutdown's stop kills it at once
      else if (child) system.signal({ kind: 'group', pid: child.pid }, 'SIGKILL', 'second termination signal to the manager', log);
    },

    // Bypasses the queue too: a thread dump of a stop that hangs is when one is wanted.
    forwardSignal(signal, reason = 'forwarded from the manager') {
      if (!child) return null;
      return system.signal({ kind: 'process', pid: child.pid }, signal, reason, log) ? child.pid : null;
    },
  };
}
