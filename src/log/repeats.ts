// A reason that comes back at every retry or poll (a directory still
// missing, a disk still read-only) is news once: this tells a repeat of the
// last value from a new one, so the log says it again only when it changes.

export interface Repeats<T> {
  /** True when value differs from the last one given (or is the first); it is remembered either way. */
  isNew(value: T): boolean;
  /** After a recovery: whatever comes next is new. */
  forget(): void;
}

const NOTHING: unique symbol = Symbol('nothing seen');

/** first: a value taken as already said (none by default). */
export function trackRepeats<T>(first: T | typeof NOTHING = NOTHING): Repeats<T> {
  let last = first;
  return {
    isNew(value) {
      const isNew = value !== last;
      last = value;
      return isNew;
    },
    forget() {
      last = NOTHING;
    },
  };
}
