// A deadline the test suite may shorten through a variable of its own (a test
// knob, not a setting), so it need not wait out minutes for a call that hangs.
// Only a whole number of milliseconds between 0 and the real deadline counts:
// a knob can shorten a deadline, never lengthen or remove it.

export function deadlineOrTestKnob(realMs: number, knob: string | undefined): number {
  const value = Number(knob);
  return Number.isInteger(value) && value > 0 && value < realMs ? value : realMs;
}
