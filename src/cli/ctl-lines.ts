// What `ctl` prints for a person: one line per answer, built from the API's
// JSON. Scripts read --json instead, so these lines may change.

import type { HealthBody } from '../api/health.ts';
import type { KeystoreStatus } from '../keystore/status.ts';
import type { ReadyAnswer } from '../readiness/readiness.ts';
import type { ProcessStatus } from '../supervisor/supervisor-interface.ts';

/** What POST /NAME/signal/SIG answers. */
export interface SignalSent {
  readonly name: string;
  readonly signal: string;
  readonly pid: number;
}

/** "es started, pid 42, since 2026-…; last exit: code 0 at …" */
export function statusLine(status: ProcessStatus): string {
  const pid = status.pid !== null && status.pid !== undefined ? `, pid ${status.pid}` : '';
  const exit = status.lastExit;
  const lastExit = exit
    ? `${exit.code !== null ? `code ${exit.code}` : `signal ${exit.signal}`} at ${exit.at}`
    : 'none';
  const desired =
    status.desired === 'stopped' && status.state !== 'stopped' && status.state !== 'killed'
      ? ' (desired: stopped)'
      : '';
  const strays =
    Array.isArray(status.strays) && status.strays.length > 0
      ? `; still running outside its process group: ${status.strays.join(' ')}`
      : '';
  return `${status.name} ${status.state}${pid}, since ${status.since}${desired}; last exit: ${lastExit}${strays}`;
}

export function healthLine(health: HealthBody): string {
  const reasons = Array.isArray(health.reasons) && health.reasons.length > 0 ? `: ${health.reasons.join('; ')}` : '';
  return `${health.status}${reasons} | ${statusLine(health.process)}`;
}

/** "keystore synced: REASON; settings: a, b" */
export function keystoreLine(keystore: KeystoreStatus): string {
  const settings = Array.isArray(keystore.settings) ? keystore.settings : [];
  const reason = keystore.reason ? `: ${keystore.reason}` : '';
  return `keystore ${keystore.state}${reason}; ${settings.length} setting(s)${settings.length > 0 ? `: ${settings.join(', ')}` : ''}`;
}

/** "ready: es is started and answers" / "not ready (not_started): es is stopped" */
export function readyLine(ready: ReadyAnswer): string {
  return ready.ready ? `ready: ${ready.message}` : `not ready (${ready.reason}): ${ready.message}`;
}

/** "sent SIGQUIT to es, pid 42" */
export function signalLine(sent: SignalSent): string {
  return `sent ${sent.signal} to ${sent.name}, pid ${sent.pid}`;
}
