// The only place that sends signals to the supervised process (and to the
// keystore CLI's process group), each one logged. ESRCH means the target is
// already gone, which every caller treats as success.

import type { Logger } from '../log/logger.ts';
import { errnoCode } from '../files/errno.ts';

export type Target = { readonly kind: 'process' | 'group'; readonly pid: number };

/** Returns false when nothing was there to signal. */
export function sendSignal(target: Target, signal: NodeJS.Signals, reason: string, log: Logger): boolean {
  const id = target.kind === 'group' ? -target.pid : target.pid;
  try {
    process.kill(id, signal);
    log.info(`sent ${signal} to ${target.kind} ${target.pid} (${reason})`, {
      'event.action': 'signal',
      'process.pid': target.pid,
      'process.signal': signal,
      'signal.target': target.kind,
      'event.reason': reason,
    });
    return true;
  } catch (error) {
    if (errnoCode(error) === 'ESRCH') return false;
    throw error;
  }
}

/** Signal 0: does any member of the group exist (zombies included)? */
export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    // EPERM: a member exists that we may not signal.
    return errnoCode(error) === 'EPERM';
  }
}
