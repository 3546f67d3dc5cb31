// GET /NAME/ready: ready only while the process is started, nothing is
// stopping or draining it, and the last check of Elasticsearch succeeded.
// Checks run when a probe asks, never on a timer (an idle manager costs no
// CPU); one runs at a time and its result serves every probe for a second
// after it, so no rate of probes costs ES more than a request a second.

import type { Logger } from '../log/logger.ts';
import type { Supervisor } from '../supervisor/supervisor-interface.ts';
import type { State } from '../supervisor/states.ts';
import { ANSWERS, type CheckResult, type EsCheck } from './es-check.ts';
import { monotonicMs } from '../clock/clock.ts';

/** How long a check's result answers probes. */
export const CHECK_REUSE_MS = 1_000;

export type NotReadyReason = 'not_started' | 'stopping' | 'not_answering';

export interface ReadyAnswer {
  readonly ready: boolean;
  readonly reason: NotReadyReason | null;
  /** One line for a person; the body is open to probes, so no path and no credential. */
  readonly message: string;
  readonly state: State;
}

export interface Readiness {
  probe(): Promise<ReadyAnswer>;
  /** For /metrics: 1 when ready by the process state and the last check; never runs a check. */
  gauge(): 0 | 1;
  close(): Promise<void>;
}

export interface ReadinessDeps {
  readonly name: string;
  readonly supervisor: Pick<Supervisor, 'status' | 'isStopping'>;
  readonly check: EsCheck;
  readonly log: Logger;
  readonly monotonicMs?: () => number;
}

interface CheckedRun {
  /** The process the result is about: a result never outlives its process. */
  readonly run: string;
  readonly result: CheckResult;
  readonly at: number;
}

export function createReadiness(deps: ReadinessDeps): Readiness {
  const { name, supervisor, log } = deps;
  const now = deps.monotonicMs ?? monotonicMs;
  let last: CheckedRun | null = null;
  let inFlight: { readonly run: string; readonly done: Promise<CheckedRun> } | null = null;
  let logged: string | null = null;
  /** Built once: a probe every few seconds need not build the same string each time. */
  const readyMessage = `${name} ${deps.check.readyMessage ?? ANSWERS}`;

  /** Not ready whatever ES says: undefined when only a check can tell. */
  const byProcess = (): ReadyAnswer | undefined => {
    const { state } = supervisor.status();
    if (supervisor.isStopping() || state === 'stopping' || state === 'killing')
      return { ready: false, reason: 'stopping', message: `${name} is being stopped`, state };
    if (state !== 'started') return { ready: false, reason: 'not_started', message: `${name} is ${state}`, state };
    return undefined;
  };

  const runOf = (): string => {
    const { pid, startedAt } = supervisor.status();
    return `${pid}@${startedAt}`;
  };

  const checked = (run: string): Promise<CheckedRun> => {
    if (last?.run === run && now() - last.at < CHECK_REUSE_MS) return Promise.resolve(last);
    if (inFlight?.run === run) return inFlight.done;
    const done = deps.check.run().then(
      (result) => (last = { run, result, at: now() }),
      (error: Error) =>
        (last = {
          run,
          result: { ok: false, summary: 'the check failed (see the manager log)', detail: error.message },
          at: now(),
        }),
    );
    const flight = { run, done };
    inFlight = flight;
    void done.finally(() => {
      if (inFlight === flight) inFlight = null;
    });
    return done;
  };

  const fromCheck = (result: CheckResult, state: State): ReadyAnswer =>
    result.ok
      ? { ready: true, reason: null, message: readyMessage, state }
      : { ready: false, reason: 'not_answering', message: result.summary, state };

  /** Transitions only, not every probe. */
  const note = (answer: ReadyAnswer, detail: string | undefined): void => {
    const key = `${answer.ready}/${answer.reason}`;
    if (key === logged) return;
    logged = key;
    const text = answer.ready
      ? `${name} is ready: ${answer.message}`
      : `${name} is not ready (${answer.reason}): ${detail ?? answer.message}`;
    log.info(text, {
      'event.action': 'readiness',
      'event.reason': answer.reason ?? 'ready',
      'process.state': answer.state,
    });
  };

  return {
    async probe() {
      const early = byProcess();
      if (early) return (note(early, undefined), early);
      const result = await checked(runOf()).then((c) => c.result);
      // The check took time: a stop may have begun meanwhile, and wins.
      const answer = byProcess() ?? fromCheck(result, 'started');
      note(answer, result.ok ? undefined : result.detail);
      return answer;
    },
    gauge() {
      if (byProcess()) return 0;
      return last?.run === runOf() && last.result.ok ? 1 : 0;
    },
    close: () => deps.check.close(),
  };
}
