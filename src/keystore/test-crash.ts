// Test knob, not a setting: the one step of a sync no outside hook can reach is
// the instant after our copy of the keystore was put in place and before the
// record says so. When the variable names a file that exists at that instant,
// the manager removes the file (so it fires once) and kills itself with
// SIGKILL, exactly as the kernel or kubelet would.

import fs from 'node:fs';

const KNOB = 'KEYSTORE_TEST_CRASH_FILE';

export function crashHereIfAsked(env: NodeJS.ProcessEnv = process.env): void {
  const file = env[KNOB];
  if (!file) return;
  try {
    fs.unlinkSync(file);
  } catch {
    return; // absent: not this time
  }
  process.kill(process.pid, 'SIGKILL');
}
