// What each signal that reaches the manager means. The PID-1 helper
// (src/pid1/helper.c) forwards to the manager exactly the signals named in
// MANAGER_SIGNALS and PASSABLE, so that the two agree: none of them can reach
// the manager and find it at its default action.

import type { Parsed } from './values.ts';

/** Signals with a meaning of their own for the manager. */
const MANAGER_SIGNALS = {
  SIGTERM: 'stop the process and exit',
  SIGINT: 'stop the process and exit',
  SIGHUP: 'reload the TLS material',
} as const satisfies Partial<Record<NodeJS.Signals, string>>;

/**
 * The rest of what the helper forwards: each is passed on to the main process
 * when --forward-signals lists it, otherwise logged at debug and ignored.
 */
export const PASSABLE: readonly NodeJS.Signals[] = [
  'SIGQUIT',
  'SIGUSR2',
  'SIGALRM',
  'SIGSTKFLT',
  'SIGCONT',
  'SIGTSTP',
  'SIGURG',
  'SIGXCPU',
  'SIGVTALRM',
  'SIGPROF',
  'SIGWINCH',
  'SIGIO',
  'SIGPWR',
];

/** Why the other signals cannot be listed in --forward-signals. */
const NOT_PASSABLE: Readonly<Record<string, string>> = {
  SIGKILL: 'cannot be caught, so the manager never sees it',
  SIGSTOP: 'cannot be caught, so the manager never sees it',
  SIGCHLD: "is the runtime's own (child exits)",
  SIGUSR1:
    'never reaches the manager: its runtime runs with --disable-sigusr1 so that no signal can open the Node.js inspector',
  SIGTTIN: 'is job control: the helper does not pass it on',
  SIGTTOU: 'is job control: the helper does not pass it on',
  SIGPIPE: 'is ignored by the runtime',
  SIGXFSZ: 'is ignored by the runtime',
  ...Object.fromEntries(
    ['SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGTRAP', 'SIGSYS', 'SIGABRT', 'SIGIOT'].map((s) => [
      s,
      "is a fault signal, left to the runtime's default",
    ]),
  ),
  ...Object.fromEntries(
    Object.entries(MANAGER_SIGNALS).map(([s, meaning]) => [s, `has its own meaning for the manager (${meaning})`]),
  ),
};

const ALIASES: Readonly<Record<string, NodeJS.Signals>> = { SIGPOLL: 'SIGIO' };

/** `QUIT`, `SIGQUIT,USR2`, `quit usr2`; `none` for an empty list. */
export function parseSignalList(text: string): Parsed<readonly NodeJS.Signals[]> {
  const words = text.split(/[\s,]+/).filter(Boolean);
  if (words.length === 1 && words[0].toLowerCase() === 'none') return { ok: true, value: [] };
  const signals = new Set<NodeJS.Signals>();
  for (const word of words) {
    const signal = canonicalName(word);
    const why = NOT_PASSABLE[signal];
    if (why) return { ok: false, expected: `a list of signals to pass on: ${signal} ${why}` };
    if (!PASSABLE.includes(signal))
      return { ok: false, expected: `a list of signal names: ${word} is not one; any of ${PASSABLE_NAMES}, or none` };
    signals.add(signal);
  }
  return { ok: true, value: [...signals] };
}

/** The names a person types: QUIT, USR2, ... */
export const PASSABLE_NAMES = PASSABLE.map((s) => s.slice(3)).join(', ');

/** What the operator may ask to be sent on its own (`POST /NAME/signal/SIG`) instead: the stop and kill requests. */
const INSTEAD: Readonly<Record<string, string>> = {
  SIGTERM: 'use POST /NAME/stop (ctl stop), which also waits for it and escalates to SIGKILL',
  SIGINT: 'use POST /NAME/stop (ctl stop)',
  SIGKILL: 'use POST /NAME/kill (ctl kill), which kills the whole process group',
};

/**
 * One signal the operator asks to be sent to the process: the ones
 * --forward-signals may list, by the same names (any case, SIG optional).
 */
export function parsePassableSignal(word: string): Parsed<NodeJS.Signals> {
  const signal = canonicalName(word);
  if (PASSABLE.includes(signal)) return { ok: true, value: signal };
  const instead = INSTEAD[signal] ? `: ${INSTEAD[signal]}` : '';
  return {
    ok: false,
    expected: `one of the signals that can be passed on (${PASSABLE_NAMES}); ${word} is not${instead}`,
  };
}

function canonicalName(word: string): NodeJS.Signals {
  const upper = word.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return ALIASES[name] ?? (name as NodeJS.Signals);
}
