// What a person (or a script, with --json) follows: one line per step with
// the time since the run began and what the step took, then a summary.

import { monotonicMs } from '../clock/clock.ts';

export interface Progress {
  /** Runs one step, reporting its end (or failure) and how long it took. */
  step<T>(node: string | null, step: string, action: () => Promise<T>): Promise<T>;
  note(node: string | null, message: string, fields?: Record<string, unknown>): void;
  event(event: string, fields: Record<string, unknown>, human: string): void;
  elapsedMs(): number;
}

/** Thrown by a failed step: the node and step the abort message names. */
export class StepFailure extends Error {
  readonly node: string | null;
  readonly step: string;
  constructor(node: string | null, step: string, reason: string) {
    super(reason);
    this.node = node;
    this.step = step;
  }
}

export function createProgress(isJson: boolean, out: NodeJS.WritableStream, now = monotonicMs): Progress {
  const began = now();
  const elapsedMs = (): number => Math.round(now() - began);
  const stamp = (): string => `[${(elapsedMs() / 1000).toFixed(1).padStart(6)}s]`;
  const event = (name: string, fields: Record<string, unknown>, human: string): void => {
    out.write(
      isJson
        ? `${JSON.stringify({ '@timestamp': new Date().toISOString(), event: name, elapsed_ms: elapsedMs(), ...fields })}\n`
        : `${stamp()} ${human}\n`,
    );
  };
  return {
    async step(node, step, action) {
      const started = now();
      try {
        const result = await action();
        const tookMs = Math.round(now() - started);
        event(
          'step',
          { node, step, status: 'done', duration_ms: tookMs },
          `${node ?? 'cluster'}: ${step} (${(tookMs / 1000).toFixed(1)}s)`,
        );
        return result;
      } catch (error) {
        if (error instanceof StepFailure) throw error;
        const reason = (error as Error).message;
        event(
          'step',
          { node, step, status: 'failed', duration_ms: Math.round(now() - started), reason },
          `${node ?? 'cluster'}: ${step} FAILED: ${reason}`,
        );
        throw new StepFailure(node, step, reason);
      }
    },
    note(node, message, fields = {}) {
      event('note', { node, message, ...fields }, `${node ?? 'cluster'}: ${message}`);
    },
    event,
    elapsedMs,
  };
}
