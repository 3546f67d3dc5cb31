// Finds the processes the manager started, wherever they went. A process that
// calls setsid() leaves Elasticsearch's process group, so a stop (which signals
// the group) never reaches it; and once its parent is gone it is reparented
// to PID 1, so no parent chain leads back to us either. What it keeps is its
// environment: spawn-process.ts puts a marker there, every descendant inherits
// it, and /proc/PID/environ shows it (to the same user, or root).

import fs from 'node:fs';
import { allPids, isRunningState, statFields } from './procfs.ts';

/** The variable spawn-process.ts sets on the supervised process; never a PM_ name, which ctl would take for an option. */
export const SUPERVISED_MARKER = 'PROCESS_MANAGER_SUPERVISED';

/** "<manager pid>:<state file>": the state file says which process it is, the pid whose manager started it. */
export function markerValue(stateFile: string, managerPid = process.pid): string {
  return `${managerPid}:${stateFile}`;
}

/**
 * Pids of the running processes (zombies excluded), among `among` or else all
 * of /proc, that carry the marker of `stateFile` and were started by this
 * manager or by one that is gone (an earlier run): never those of another
 * manager still running with the same state file, nor this process.
 * Processes it may not read (another user's) are not found.
 */
export function findMarkedProcesses(stateFile: string, among?: readonly number[]): number[] {
  const pids = among ?? allPids();
  if (!pids) return []; // no /proc: nothing to find with
  const prefix = `${SUPERVISED_MARKER}=`;
  const found: number[] = [];
  for (const pid of pids) {
    if (pid === process.pid) continue;
    try {
      const entry = fs
        .readFileSync(`/proc/${pid}/environ`, 'latin1')
        .split('\0')
        .find((variable) => variable.startsWith(prefix));
      const fields = entry && isOurs(entry.slice(prefix.length), stateFile) ? statFields(pid) : undefined;
      if (fields && isRunningState(fields)) found.push(pid);
    } catch {
      // exited while we looked, or not ours to read
    }
  }
  return found;
}

function isOurs(value: string, stateFile: string): boolean {
  const colon = value.indexOf(':');
  if (value.slice(colon + 1) !== stateFile) return false;
  const managerPid = Number(value.slice(0, colon));
  return managerPid === process.pid || !fs.existsSync(`/proc/${managerPid}`);
}
