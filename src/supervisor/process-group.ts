// Who is left of a process group. Zombies do not count: they are dead and
// only wait for PID 1 (the helper) to collect them, and a stop that waited
// for them would hang wherever nothing reaps.

import { allPids, isRunningState, statFields } from './procfs.ts';
import { groupExists } from './signal-process.ts';

/** Pids of the group's members that are still running; [] when none. */
export function livingGroupMembers(pgid: number): number[] {
  const pids = allPids();
  if (!pids) return fallbackProbe(pgid);
  return pids.filter((pid) => {
    const fields = statFields(pid);
    return fields !== undefined && Number(fields[2]) === pgid && isRunningState(fields);
  });
}

function fallbackProbe(pgid: number): number[] {
  return groupExists(pgid) ? [pgid] : [];
}
