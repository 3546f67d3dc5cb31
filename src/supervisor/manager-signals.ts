// What the signals sent to the manager do. The PID-1 helper forwards to it
// every signal named in src/config/signals.ts, so these are also what
// `kill 1` in the container does; each one has a listener here, so none can
// end the manager by its default action.

import { PASSABLE } from '../config/signals.ts';
import type { Logger } from '../log/logger.ts';

export interface SignalActions {
  /** First SIGTERM or SIGINT: a graceful stop, then exit. */
  readonly terminate: () => void;
  /** Second one: stop waiting. */
  readonly terminateNow: () => void;
  readonly reloadTls: () => void;
  readonly forward: (signal: NodeJS.Signals) => void;
}

export function handleManagerSignals(actions: SignalActions, forwarded: readonly NodeJS.Signals[], log: Logger): void {
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
    log.info('received SIGHUP: reloading TLS material', {
      'event.action': 'manager-signal',
      'process.signal': 'SIGHUP',
    });
    actions.reloadTls();
  });
  for (const signal of PASSABLE) {
    if (forwarded.includes(signal)) process.on(signal, () => actions.forward(signal));
    else
      process.on(signal, () =>
        log.debug(`received ${signal}: ignored`, { 'event.action': 'manager-signal', 'process.signal': signal }),
      );
  }
}
