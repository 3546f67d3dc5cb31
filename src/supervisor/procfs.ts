// What /proc says of the processes on this machine: who exists, and whether
// one is still running. Zombies and dying processes do not count as running:
// they only wait for PID 1 (the helper) to collect them.

import fs from 'node:fs';

/** Every pid in /proc; undefined when there is no /proc to read. */
export function allPids(): number[] | undefined {
  try {
    return fs
      .readdirSync('/proc')
      .filter((name) => name.charCodeAt(0) >= 48 && name.charCodeAt(0) <= 57)
      .map(Number);
  } catch {
    return undefined;
  }
}

/** The fields of /proc/PID/stat after the command name ([0] state, [2] pgrp); undefined once it is gone. */
export function statFields(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined; // exited while we looked
  }
  // "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Not a zombie, not dying. */
export function isRunningState(fields: readonly string[]): boolean {
  return fields[0] !== 'Z' && fields[0] !== 'X';
}
