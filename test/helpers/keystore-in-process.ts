// The keystore updater in the test's own process, with the real parts (the
// fake elasticsearch-keystore as its CLI, chokidar, real files) and a system
// (src/keystore/system.ts) the test may alter: a shorter deadline, or a step
// that halts, as a SIGKILL at that instant would. Its configuration comes
// from the same environment variables the executable reads, through the same
// parser. Defines functions only: tap may load this file on its own.

import type { Test } from 'tap';
import { type Clock, systemClock } from '../../src/clock/clock.ts';
import type { KeystoreConfig } from '../../src/config/config.ts';
import { parseCommandLine } from '../../src/config/parse-command-line.ts';
import type { LogFields, Logger } from '../../src/log/logger.ts';
import { createCliRunner } from '../../src/keystore/keystore-cli.ts';
import { createReloadClient } from '../../src/keystore/reload-client.ts';
import { watchSource } from '../../src/keystore/source-watcher.ts';
import { nodeKeystoreFiles, type KeystoreSystem } from '../../src/keystore/system.ts';
import { startKeystoreUpdater } from '../../src/keystore/updater.ts';
import type { KeystoreUpdater } from '../../src/keystore/updater-interface.ts';
import { waitFor, type LogRecord } from './manager.ts';
import type { KeystoreLayout } from './keystore.ts';

export interface InProcessOptions {
  /** Added to the layout's environment: the updater's variables and the fake CLI's knobs alike. */
  readonly env?: Record<string, string>;
  readonly cliDeadlineMs?: number;
  readonly reloadDeadlineMs?: number;
  /** Reloads wait while this says no; no by default, as before Elasticsearch's first start. */
  readonly isProcessStarted?: () => boolean;
  /** Every timer of the clock (retries, waits) runs this many times sooner: back-off in tenths of seconds. */
  readonly timerSpeedUp?: number;
  readonly clock?: Clock;
  /** Parts to use instead of the real ones, given the real ones. */
  readonly system?: (real: KeystoreSystem) => Partial<KeystoreSystem>;
}

export interface InProcessUpdater {
  readonly updater: KeystoreUpdater;
  readonly config: KeystoreConfig;
  /** Every line logged, as the executable would print them (message and fields). */
  readonly logs: LogRecord[];
  /** The status as GET /keystore/status serves it (JSON: no undefined fields). */
  status(): any;
  close(): Promise<void>;
  /** Never to be closed: it halted for good, as a killed manager would (its watches are the test's to close). */
  abandon(): void;
}

export function recordingLogger(logs: LogRecord[]): Logger {
  const at =
    (level: string) =>
    (message: string, fields: LogFields = {}): void =>
      void logs.push({ 'log.level': level, message, ...fields } as LogRecord);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), setLevel: () => {} };
}

/** The updater's configuration for this environment, parsed as the executable parses it. */
export function keystoreConfigFor(env: Record<string, string>): KeystoreConfig {
  const command = parseCommandLine(['--cmd', '/bin/true'], { KEYSTORE_UPDATER: 'true', ...env }, '/process-manager');
  if (command.kind !== 'run') throw new Error(`not a run: ${command.kind}`);
  return command.config.keystore;
}

/** Starts an updater on `layout`; closed at the test's end (and by close(), which may come first). */
export async function startInProcess(
  t: Test,
  layout: KeystoreLayout,
  options: InProcessOptions = {},
): Promise<InProcessUpdater> {
  const env = { ...layout.env, ...options.env };
  const config = keystoreConfigFor(env);
  const logs: LogRecord[] = [];
  const log = recordingLogger(logs);
  const real: KeystoreSystem = {
    runCli: createCliRunner(config.binary, log, {
      env: { ...process.env, ...env },
      deadlineMs: options.cliDeadlineMs,
    }),
    reloadClient: createReloadClient(config, options.reloadDeadlineMs),
    watchSource,
    files: nodeKeystoreFiles,
    clock:
      options.clock ??
      (options.timerSpeedUp
        ? { ...systemClock, setTimer: (ms, fn) => systemClock.setTimer(ms / options.timerSpeedUp!, fn) }
        : systemClock),
  };
  const system = { ...real, ...options.system?.(real) };
  const updater = await startKeystoreUpdater(
    config,
    { log, isProcessStarted: options.isProcessStarted ?? (() => false) },
    system,
  );
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= updater.close());
  t.teardown(() => close());
  return {
    updater,
    config,
    logs,
    status: () => JSON.parse(JSON.stringify(updater.status())),
    close,
    abandon: () => void (closing = Promise.resolve()),
  };
}

export interface HeldTimersClock extends Clock {
  /** Runs every timer set so far (a retry, a look for the process), as if its time had come. */
  fire(): number;
  /** Timers set and not yet fired or cancelled, by their delay. */
  pending(): number[];
}

/**
 * The system clock, but its timers wait for the test: a retry after a back-off of seconds comes when the test says,
 * and not before (the watcher's debounce and the deadlines keep their own real timers).
 */
export function heldTimersClock(): HeldTimersClock {
  const timers = new Map<number, { readonly ms: number; readonly fn: () => void }>();
  let nextId = 0;
  return {
    ...systemClock,
    setTimer(ms, fn) {
      const id = nextId++;
      timers.set(id, { ms, fn });
      return () => void timers.delete(id);
    },
    fire() {
      const due = [...timers.values()];
      timers.clear();
      for (const timer of due) timer.fn();
      return due.length;
    },
    pending: () => [...timers.values()].map((timer) => timer.ms),
  };
}

/** Waits until the status satisfies `predicate`, and returns that status. */
export function inProcessStatusWhere(
  running: InProcessUpdater,
  predicate: (status: any) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<any> {
  return waitFor(
    () => {
      const status = running.status();
      return predicate(status) ? status : undefined;
    },
    what,
    timeoutMs,
    5,
  );
}
