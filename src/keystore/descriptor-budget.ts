// How many add-file pairs one CLI call may carry under the RLIMIT_NOFILE
// actually in force. Each pair holds a descriptor in the manager (pinned,
// until the call ends) and one in the CLI, which inherits our limit. A call
// sized past it fails with EMFILE (a spawn that gets no pipes, a source file
// that cannot be opened) and, retried, fails the same way for ever; worse, a
// manager at its limit cannot accept a connection, so /health goes blind. So
// the budget leaves room for our own sockets and the call's pipes, and for
// the CLI's own needs (the JVM opens its modules and jars).

import fs from 'node:fs/promises';

/** Free descriptors kept for the API (probes, ctl) and the call's pipes while a call runs. */
const OUR_HEADROOM = 24;
/** What the CLI itself opens besides our pairs: stdio, the JVM's modules file and jars, the keystore. */
const CLI_OWN_DESCRIPTORS = 32;

export interface DescriptorBudget {
  /** Soft RLIMIT_NOFILE, or null when unlimited or unknown. */
  readonly limit: number | null;
  readonly open: number;
  /** Pairs one call may carry: at least 1, at most `cap`. */
  readonly pairs: number;
}

export async function descriptorBudget(cap: number): Promise<DescriptorBudget> {
  const [limit, open] = await Promise.all([softLimit(), openDescriptors()]);
  if (limit === null) return { limit, open, pairs: cap };
  const pairs = Math.min(cap, limit - open - OUR_HEADROOM, limit - CLI_OWN_DESCRIPTORS);
  return { limit, open, pairs: Math.max(1, pairs) };
}

/** "Max open files  <soft>  <hard>  files" from /proc/self/limits; null when unlimited or unreadable. */
async function softLimit(): Promise<number | null> {
  try {
    const text = await fs.readFile('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
    const value = Number(soft);
    return Number.isInteger(value) && value > 0 ? value : null;
  } catch {
    return null;
  }
}

async function openDescriptors(): Promise<number> {
  try {
    // Minus the one the listing itself holds.
    return (await fs.readdir('/proc/self/fd')).length - 1;
  } catch {
    return 0;
  }
}

/** An error, or a CLI's output, that says a process ran out of descriptors. */
export function isOutOfDescriptors(text: string): boolean {
  return /EMFILE|ENFILE|Too many open files/.test(text);
}
