// Run by `npm test` after the suites: no process started from this checkout
// may outlive them. A leftover is a test that forgot to clean up, and on a
// developer's machine or in CI it keeps running (and holding ports) forever.
// Processes still on their way out get a moment: a PID-1 helper's sweep waits
// up to two seconds before its SIGKILL. Only processes started after the
// script that runs the suites (our parent, `npm test`'s shell) count: a
// developer's own shells in the checkout are not leftovers.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const checkout = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const GRACE_MS = 15_000;

/** The fields of /proc/PID/stat after the command name: [0] state, [1] ppid, [19] start time. */
function statFields(pid) {
  const stat = readProc(pid, 'stat');
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function ancestorsOfThisProcess() {
  const pids = new Set();
  for (let pid = process.pid; pid > 1; ) {
    pids.add(pid);
    const fields = statFields(pid);
    if (!fields) break;
    pid = Number(fields[1]);
  }
  return pids;
}

function readProc(pid, file) {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined; // gone, or not ours to read
  }
}

function linkOf(pid, name) {
  try {
    return fs.readlinkSync(`/proc/${pid}/${name}`);
  } catch {
    return '';
  }
}

function leftovers(spared, startedAfter) {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || spared.has(pid)) continue;
    const fields = statFields(pid);
    if (!fields || fields[0] === 'Z' || Number(fields[19]) < startedAfter) continue; // zombies hold nothing
    const commandLine = (readProc(pid, 'cmdline') ?? '').replaceAll('\0', ' ').trim();
    const places = [linkOf(pid, 'cwd'), linkOf(pid, 'exe'), commandLine];
    if (places.some((place) => place.includes(checkout))) found.push(`${pid} ${commandLine || linkOf(pid, 'exe')}`);
  }
  return found;
}

const spared = ancestorsOfThisProcess();
const startedAfter = Number(statFields(process.ppid)?.[19] ?? 0);
const deadline = Date.now() + GRACE_MS;
let found = leftovers(spared, startedAfter);
while (found.length > 0 && Date.now() < deadline) {
  await sleep(250);
  found = leftovers(spared, startedAfter);
}
if (found.length > 0) {
  console.error(
    `no-leftovers: ${found.length} process(es) started from ${checkout} outlived the suites:\n  ${found.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`no-leftovers: no process started from ${checkout} outlived the suites`);
