// Reading the process table from /proc, as ps would, without depending on ps.

import fs from 'node:fs';

export interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly state: string;
  readonly comm: string;
}

export function processTable(): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      entries.push({
        pid: Number(name),
        comm: stat.slice(stat.indexOf('(') + 1, close),
        state: fields[0],
        ppid: Number(fields[1]),
        pgid: Number(fields[2]),
      });
    } catch {
      // exited while we read
    }
  }
  return entries;
}

/** Every process below pid (children, their children, ...). */
export function descendants(pid: number, table: ProcessEntry[] = processTable()): ProcessEntry[] {
  const found: ProcessEntry[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const entry of table) {
      if (entry.ppid === parent) {
        found.push(entry);
        frontier.push(entry.pid);
      }
    }
  }
  return found;
}

export function childrenOf(pid: number): number[] {
  return processTable()
    .filter((entry) => entry.ppid === pid)
    .map((entry) => entry.pid);
}

export function readCmdline(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

/** The pid as seen inside its innermost PID namespace. */
export function namespacePid(pid: number): number {
  const line = fs
    .readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('NSpid:'))!;
  const ids = line.split(/\s+/).slice(1).filter(Boolean);
  return Number(ids[ids.length - 1]);
}
