// Under a real terminal (a pseudo-terminal made by util-linux's `script`),
// one Ctrl-C is one termination request. The terminal sends SIGINT to its
// whole foreground process group; the helper forks the manager into a group
// of its own and makes it the foreground one, so the manager gets the SIGINT
// once, from the terminal, and not a second time forwarded by PID 1 (which
// would count as "second termination signal: SIGKILL now").

import { spawn } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { tempDir, waitFor, type LogRecord } from '../helpers/manager.ts';
import { installedEntryPoint, PID1_FIXTURES, recorded, UNSHARE } from '../helpers/pid1.ts';

const CTRL_C = '\x03';

/** Runs argv on a fresh pseudo-terminal; once `until()` holds, types Ctrl-C once. */
async function ctrlCOnTerminal(argv: string[], until: () => boolean) {
  const command = argv.map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ');
  // -e: script exits with the command's status; -f: its output is passed on at once.
  const script = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  let output = '';
  script.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => script.once('exit', (code) => resolve(code)));
  try {
    await waitFor(until, 'the process to be ready');
    script.stdin!.write(CTRL_C);
    const timer = setTimeout(() => process.kill(-script.pid!, 'SIGKILL'), 60_000);
    const code = await exited;
    clearTimeout(timer);
    const logs: LogRecord[] = output
      .split(/\r?\n/)
      // The terminal echoes the Ctrl-C as "^C" in front of whatever comes next.
      .map((line) => line.slice(line.indexOf('{"@timestamp"')))
      .filter((line) => line.startsWith('{"@timestamp"'))
      .map((line) => JSON.parse(line));
    return { code, logs };
  } finally {
    try {
      process.kill(-script.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

const sigints = (logs: LogRecord[]) => logs.filter((r) => r['event.action'] === 'manager-signal' && r['process.signal'] === 'SIGINT');

t.test('one Ctrl-C on the terminal is one SIGINT for the manager: a graceful stop, not a SIGKILL', async (t) => {
  const dir = tempDir();
  const record = path.join(dir, 'signals');
  const manager = [installedEntryPoint(), '--cmd', path.join(PID1_FIXTURES, 'record-signals'), '--http-port', '0', '--state-file', path.join(dir, 'state.json'), '--', record];
  const { code, logs } = await ctrlCOnTerminal([...UNSHARE, ...manager], () => recorded(record).includes('ready'));
  t.equal(sigints(logs).length, 1, 'received SIGINT once');
  t.equal(code, 143, 'the container ends with the status of the stopped process');
  t.same(recorded(record), ['ready', 'TERM'], 'which got SIGTERM from the stop, and no SIGINT of its own');
  t.notOk(logs.some((r) => r['event.action'] === 'signal' && r['process.signal'] === 'SIGKILL'), 'no SIGKILL');
});

t.test('negative control: under an init that keeps the manager in its own foreground group, the same Ctrl-C arrives twice', async (t) => {
  // dumb-init -c (no new session) forwards SIGINT to its child, which the terminal has already signalled.
  const dir = tempDir();
  const record = path.join(dir, 'signals');
  const manager = [installedEntryPoint(), '--cmd', path.join(PID1_FIXTURES, 'record-signals'), '--http-port', '0', '--state-file', path.join(dir, 'state.json'), '--', record];
  const { logs } = await ctrlCOnTerminal([...UNSHARE, 'dumb-init', '-c', ...manager], () => recorded(record).includes('ready'));
  t.equal(sigints(logs).length, 2, 'the detector sees the second SIGINT');
  t.ok(logs.some((r) => r['event.action'] === 'signal' && r['process.signal'] === 'SIGKILL'), 'which SIGKILLs the process');
});
