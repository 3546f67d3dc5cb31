// The name `ps` and `pgrep process-manager` show. The runtime calls its main
// thread "MainThread", which says nothing to the operator looking for us.

import fs from 'node:fs';

export function nameThisProcess(name = 'process-manager'): void {
  try {
    // comm only (15 bytes at most): the command line, with --cmd and its arguments, stays visible in `ps -ef`.
    fs.writeFileSync('/proc/self/comm', name);
  } catch {
    /* not Linux, or /proc not mounted: a cosmetic loss */
  }
}
