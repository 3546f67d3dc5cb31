// Reads what the kernel says about a process, from outside it: memory from
// /proc/PID/status, CPU ticks from /proc/PID/stat, the process tree.

import fs from 'node:fs';

/** Memory fields of /proc/PID/status, in KiB, plus Threads. */
export function readStatus(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => {
    const match = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text);
    return match ? Number(match[1]) : null;
  };
  return {
    VmRSS: field('VmRSS'),
    RssAnon: field('RssAnon'),
    RssFile: field('RssFile'),
    RssShmem: field('RssShmem'),
    VmHWM: field('VmHWM'),
    Threads: field('Threads'),
  };
}

/** /proc/PID/smaps_rollup as name -> KiB (Rss, Pss, Anonymous, Private_Dirty, ...). */
export function readSmapsRollup(pid) {
  const result = {};
  for (const line of fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
    const match = /^(\w+):\s+(\d+) kB/.exec(line);
    if (match) result[match[1]] = Number(match[2]);
  }
  return result;
}

function statFields(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const close = stat.lastIndexOf(')');
  // fields[0] is field 3 (state) of proc(5).
  return { comm: stat.slice(stat.indexOf('(') + 1, close), fields: stat.slice(close + 2).split(' ') };
}

/** utime + stime of the whole thread group, in clock ticks (USER_HZ, 100 per second on Linux). */
export function readCpuTicks(pid) {
  const { fields } = statFields(pid);
  return Number(fields[11]) + Number(fields[12]);
}

/** Precise CPU time of every thread of pid, in ms: the first field of /proc/PID/task/TID/schedstat (ns on CPU). */
export function readCpuMs(pid) {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // thread ended
    }
  }
  return ns / 1e6;
}

/** The state letter (R, S, Z, ...), or null when the pid is gone. */
export function processState(pid) {
  try {
    return statFields(pid).fields[0];
  } catch {
    return null;
  }
}

export function processTable() {
  const table = [];
  for (const name of fs.readdirSync('/proc')) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    try {
      const { comm, fields } = statFields(name);
      table.push({ pid: Number(name), comm, state: fields[0], ppid: Number(fields[1]) });
    } catch {
      // exited while we looked
    }
  }
  return table;
}

export function childrenOf(pid) {
  return processTable()
    .filter((entry) => entry.ppid === pid)
    .map((entry) => entry.pid);
}

/** The pid as its own (innermost) PID namespace numbers it. */
export function namespacePid(pid) {
  const line = fs
    .readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('NSpid:'));
  const ids = line.split(/\s+/).slice(1).filter(Boolean);
  return Number(ids[ids.length - 1]);
}

export function exeOf(pid) {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

/** The host pid of the process that its namespace calls nsPid, among the descendants of root. */
export function hostPidOf(root, nsPid) {
  const table = processTable();
  const frontier = [root];
  while (frontier.length > 0) {
    const parent = frontier.pop();
    for (const entry of table) {
      if (entry.ppid !== parent) continue;
      try {
        if (namespacePid(entry.pid) === nsPid) return entry.pid;
      } catch {
        continue;
      }
      frontier.push(entry.pid);
    }
  }
  return null;
}
