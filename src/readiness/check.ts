// What every kind of readiness check (es-check.ts's tcp and none, http-check.ts) gives readiness.ts.

/** `summary` is for anyone who can reach the probe port (no path, no credential); `detail` is for the log. */
export type CheckResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly summary: string; readonly detail: string };

export interface EsCheck {
  run(): Promise<CheckResult>;
  close(): Promise<void>;
  /** What a ready answer says after the process's name: what was asked, so that `none` claims no answer from ES. */
  readonly readyMessage?: string;
}
