// Who is left of a process group. Zombies do not count: they are dead and
// only wait for PID 1 (the helper) to collect them, and a stop that waited
// for them would hang wherever nothing reaps.

import fs from 'node:fs';
import { groupExists } from './signal-process.ts';

/** Pids of the group's members that are still running; [] when none. */
export function livingGroupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return fallbackProbe(pgid);
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(Number(entry));
  }
  return members;
}

function fallbackProbe(pgid: number): number[] {
  return groupExists(pgid) ? [pgid] : [];
}
