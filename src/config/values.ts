// Value parsers shared by flags and environment variables. Each returns the
// parsed value or a short description of what was expected, so the caller can
// name the flag or variable in its message.

export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)?$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000 } as const;

/** `500ms`, `5s`, `2m`, or plain seconds (`5`, `1.5`). */
export function parseDuration(text: string): Parsed<number> {
  const match = DURATION.exec(text.trim());
  if (!match) return { ok: false, expected: 'a duration such as 500ms, 5s, 2m or a number of seconds' };
  const unit = (match[2] ?? 's') as keyof typeof UNIT_MS;
  return { ok: true, value: Math.round(Number(match[1]) * UNIT_MS[unit]) };
}

/** 0 asks the system for a free port (handy for tests; the chosen one is logged). */
export function parsePort(text: string): Parsed<number> {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value > 65535) return { ok: false, expected: 'a TCP port number from 0 to 65535' };
  return { ok: true, value };
}

export function parseChoice<T extends string>(text: string, choices: readonly T[]): Parsed<T> {
  const found = choices.find((c) => c === text);
  return found ? { ok: true, value: found } : { ok: false, expected: `one of ${choices.join(', ')}` };
}

export function parseBoolean(text: string): Parsed<boolean> {
  const lowered = text.trim().toLowerCase();
  if (lowered === 'true' || lowered === '1') return { ok: true, value: true };
  if (lowered === 'false' || lowered === '0' || lowered === '') return { ok: true, value: false };
  return { ok: false, expected: 'true or false' };
}
