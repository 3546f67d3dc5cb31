// What the signals sent to the manager mean. The helper forwards every signal
// PID 1 receives, so these are also what `kill 1` in the container does.

import type { Logger } from '../log/logger.ts';

export interface SignalActions {
  /** First SIGTERM or SIGINT: a graceful stop, then exit. */
  readonly terminate: () => void;
  /** Second one: stop waiting. */
  readonly terminateNow: () => void;
  readonly reloadTls: () => void;
  readonly forward: (signal: NodeJS.Signals) => void;
}

/** SIGQUIT makes a JVM print a thread dump; USR1 and USR2 are the process's own business. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export function handleManagerSignals(actions: SignalActions, log: Logger): void {
  let terminating = false;
  const onTerminate = (signal: NodeJS.Signals): void => {
    log.info(`received ${signal}`, { 'event.action': 'manager-signal', 'process.signal': signal });
    if (terminating) return actions.terminateNow();
    terminating = true;
    actions.terminate();
  };
  process.on('SIGTERM', onTerminate);
  process.on('SIGINT', onTerminate);
  process.on('SIGHUP', () => {
    log.info('received SIGHUP: reloading TLS material', { 'event.action': 'manager-signal', 'process.signal': 'SIGHUP' });
    actions.reloadTls();
  });
  for (const signal of FORWARDED) process.on(signal, () => actions.forward(signal));
}
