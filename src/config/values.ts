// Value parsers shared by flags and environment variables. Each returns the
// parsed value or a short description of what was expected, so the caller can
// name the flag or variable in its message.

export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
const PLAIN_SECONDS = /^\d+(?:\.\d+)?$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
/** setTimeout holds a signed 32-bit number of milliseconds; past it Node fires after 1 ms instead. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;
const DURATION_FORMS = 'a duration such as 500ms, 5s, 2m, 1h, 2m30s or a number of seconds';

/** `500ms`, `5s`, `2m`, `1h`, compounds (`2m30s`), or plain seconds (`5`, `1.5`); at most what a timer holds. */
export function parseDuration(text: string): Parsed<number> {
  const trimmed = text.trim();
  let ms: number;
  if (PLAIN_SECONDS.test(trimmed)) ms = Number(trimmed) * 1000;
  else {
    ms = 0;
    DURATION_PART.lastIndex = 0;
    while (DURATION_PART.lastIndex < trimmed.length) {
      const match = DURATION_PART.exec(trimmed);
      if (!match || trimmed === '') return { ok: false, expected: DURATION_FORMS };
      ms += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
    }
    if (trimmed === '') return { ok: false, expected: DURATION_FORMS };
  }
  const value = Math.round(ms);
  if (value > LONGEST_TIMER_MS)
    return { ok: false, expected: `a duration a timer can hold: at most ${LONGEST_TIMER_MS}ms (about 24.8 days)` };
  return { ok: true, value };
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
