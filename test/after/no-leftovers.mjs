// Run by `npm test` after the suites: no process started from this checkout
// may outlive them. A leftover is a test that forgot to clean up, and on a
// developer's machine or in CI it keeps running (and holding ports) forever.
// Processes still on their way out get a moment: a PID-1 helper's sweep waits
// up to two seconds before its SIGKILL.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const checkout = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const GRACE_MS = 15_000;

function ancestorsOfThisProcess() {
  const pids = new Set();
  for (let pid = process.pid; pid > 1; ) {
    pids.add(pid);
    const stat = readProc(pid, 'stat');
    if (!stat) break;
    pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
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

function leftovers(spared) {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || spared.has(pid)) continue;
    const stat = readProc(pid, 'stat');
    if (!stat || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // zombies hold nothing
    const commandLine = (readProc(pid, 'cmdline') ?? '').replaceAll('\0', ' ').trim();
    const places = [linkOf(pid, 'cwd'), linkOf(pid, 'exe'), commandLine];
    if (places.some((place) => place.includes(checkout))) found.push(`${pid} ${commandLine || linkOf(pid, 'exe')}`);
  }
  return found;
}

const spared = ancestorsOfThisProcess();
const deadline = Date.now() + GRACE_MS;
let found = leftovers(spared);
while (found.length > 0 && Date.now() < deadline) {
  await sleep(250);
  found = leftovers(spared);
}
if (found.length > 0) {
  console.error(`no-leftovers: ${found.length} process(es) started from ${checkout} outlived the suites:\n  ${found.join('\n  ')}`);
  process.exit(1);
}
console.log(`no-leftovers: no process started from ${checkout} outlived the suites`);
