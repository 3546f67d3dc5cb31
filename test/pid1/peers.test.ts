// tini's and dumb-init's own test suites (tini's test/, dumb-init's tests/),
// ported as black-box cases: each one runs against our installed entry point
// and, side by side, Debian's `tini` and `dumb-init`, each as PID 1 of a
// fresh PID namespace as in a container. Where we differ on purpose, the case
// asserts our behaviour and says why (README.md, "PID 1", has the table).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { PASSABLE } from '../../src/config/signals.ts';
import { tempDir, waitFor, type LogRecord, within } from '../helpers/manager.ts';
import { installedEntryPoint, PID1_FIXTURES, recorded, UNSHARE } from '../helpers/pid1.ts';
import { childrenOf, descendants } from '../helpers/procfs.ts';
import { onTerminal } from '../helpers/terminal.ts';

type InitName = 'process-manager' | 'tini' | 'dumb-init';
const INITS: InitName[] = ['process-manager', 'tini', 'dumb-init'];
const PRINT_SIGNALS = path.join(PID1_FIXTURES, 'print-signals');

const missingPeers = ['/usr/bin/tini', '/usr/bin/dumb-init'].filter((file) => !fs.existsSync(file));
const skip =
  missingPeers.length > 0 ? `not installed: ${missingPeers.join(', ')} (apt-get install tini dumb-init)` : false;

/** INIT's command line supervising cmd args. */
function initCommand(init: InitName, cmd: string, args: readonly string[], extra: readonly string[] = []): string[] {
  switch (init) {
    case 'process-manager':
      return [
        installedEntryPoint(),
        '--cmd',
        cmd,
        '--http-port',
        '0',
        '--state-file',
        path.join(tempDir(), 'state.json'),
        ...extra,
        '--',
        ...args,
      ];
    case 'tini':
      return ['/usr/bin/tini', ...extra, '--', cmd, ...args];
    case 'dumb-init':
      return ['/usr/bin/dumb-init', ...extra, cmd, ...args];
  }
}

interface InitRun {
  readonly child: ChildProcess;
  /** 0 when not asked for (a run too short to catch it). */
  readonly pid1: number;
  readonly exited: Promise<number | null>;
  readonly logs: LogRecord[];
}

const running = new Set<ChildProcess>();
process.on('exit', () => running.forEach((child) => child.exitCode === null && process.kill(-child.pid!, 'SIGKILL')));

/** INIT as PID 1 of a new PID namespace. */
async function startInit(
  init: InitName,
  cmd: string,
  args: readonly string[],
  extra: readonly string[] = [],
  findPid1 = true,
): Promise<InitRun> {
  const argv = [...UNSHARE, ...initCommand(init, cmd, args, extra)];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  running.add(child);
  const logs: LogRecord[] = [];
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('{"@timestamp"')) logs.push(JSON.parse(line));
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => (running.delete(child), resolve(code))),
  );
  const pid1 = findPid1 ? await waitFor(() => childrenOf(child.pid!)[0], 'unshare to fork PID 1') : 0;
  return { child, pid1, exited, logs };
}

/** Runs INIT over cmd to its end; its exit status. */
async function runInit(init: InitName, cmd: string, args: readonly string[]): Promise<number | null> {
  const run = await startInit(init, cmd, args, [], false);
  const timer = setTimeout(() => process.kill(-run.child.pid!, 'SIGKILL'), 60_000);
  const code = await run.exited;
  clearTimeout(timer);
  return code;
}

/** Runs jobs with at most `width` at once (two cores; each manager start is a Node.js start). */
async function inParallel<T>(items: readonly T[], width: number, job: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await job(item);
    }),
  );
}

function pendingSignals(pid: number): bigint {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => BigInt('0x' + (new RegExp(`^${name}:\\s*([0-9a-f]+)`, 'm').exec(status)?.[1] ?? '0'));
  return field('SigPnd') | field('ShdPnd');
}

t.test('exit codes 0-255 pass through (tini run_inner_tests, dumb-init exit_status_test)', { skip }, async (t) => {
  for (const init of INITS) {
    const wrong: string[] = [];
    await inParallel([...Array(256).keys()], init === 'process-manager' ? 3 : 8, async (code) => {
      const got = await runInit(init, '/bin/sh', ['-c', `exit ${code}`]);
      if (got !== code) wrong.push(`${code} -> ${got}`);
    });
    t.same(wrong, [], `${init}: every code from 0 to 255 is the container's`);
  }
});

t.test('death by a signal is 128+signal (dumb-init exit_status_test)', { skip }, async (t) => {
  for (const init of INITS) {
    for (const [signal, number] of [
      ['TERM', 15],
      ['HUP', 1],
      ['QUIT', 3],
      ['KILL', 9],
      ['USR1', 10],
      ['USR2', 12],
    ] as const) {
      t.equal(await runInit(init, '/bin/sh', ['-c', `kill -${signal} $$`]), 128 + number, `${init}: SIG${signal}`);
    }
  }
});

t.test('orphans are reaped (tini reaping/, dumb-init test-zombies)', { skip }, async (t) => {
  for (const init of INITS) {
    const run = await startInit(init, path.join(PID1_FIXTURES, 'make-orphans'), ['30']);
    // 30 double-forked sleeps of at most 0.5 s, then the fixture's own `sleep 100000` alone.
    const settled = await waitFor(() => {
      const below = descendants(run.pid1);
      return below.filter((p) => p.comm === 'sleep').length === 1 && below.every((p) => p.state !== 'Z')
        ? below
        : undefined;
    }, `${init}: the orphans to end and be reaped`);
    t.same(
      settled.filter((p) => p.state === 'Z'),
      [],
      `${init}: no zombie`,
    );
    process.kill(run.pid1, 'SIGTERM');
    await within(run.exited, 'the process to exit');
  }
});

// dumb-init's NORMAL_SIGNALS: 1-31 but KILL, STOP, CHLD and the job-control TSTP, TTIN, TTOU.
const NORMAL_SIGNALS = [...Array(31).keys()].map((i) => i + 1).filter((n) => ![9, 19, 17, 20, 21, 22].includes(n));
const SIGINT = 2;
const SIGTERM = 15;
/** The faults tini leaves unblocked: as PID 1 the kernel drops them (default action of a namespace's init). */
const TINI_UNCOLLECTED = [4, 5, 6, 7, 8, 11, 31];

/**
 * What print-signals recorded, less the SIGCONT (18) that our stop sends with its SIGTERM (so that a
 * stopped process runs its TERM handler); whether the shell records it before exiting on the TERM is a race.
 */
const afterOurStop = (lines: string[]) => lines.filter((line) => line !== '18');

/** What the supervised process records for every signal of the proxy list, INT and TERM last. */
const EXPECTED_PROXIED: Record<InitName, number[]> = {
  // dumb-init: everything. tini: everything it collects.
  'dumb-init': [...NORMAL_SIGNALS.filter((n) => n !== SIGINT && n !== SIGTERM), SIGINT, SIGTERM],
  tini: [
    ...NORMAL_SIGNALS.filter((n) => n !== SIGINT && n !== SIGTERM && !TINI_UNCOLLECTED.includes(n)),
    SIGINT,
    SIGTERM,
  ],
  // Ours, by design: only --forward-signals (QUIT by default); INT is a graceful stop, so the process gets TERM.
  'process-manager': [3, SIGTERM],
};

/** Node's name of signal n, as the manager logs it (SIGIO, not its alias SIGPOLL). */
function nameOf(n: number): NodeJS.Signals {
  const names = Object.entries(os.constants.signals)
    .filter(([, value]) => value === n)
    .map(([name]) => name as NodeJS.Signals);
  return names.find((name) => name !== 'SIGPOLL' && name !== 'SIGIOT') ?? names[0];
}

t.test("every signal of dumb-init's proxy list (proxies_signals_test), sent to PID 1", { skip }, async (t) => {
  for (const init of INITS) {
    const record = path.join(tempDir(), 'signals');
    const run = await startInit(
      init,
      PRINT_SIGNALS,
      [record],
      init === 'process-manager' ? ['--log-level', 'debug'] : [],
    );
    await waitFor(() => recorded(record).includes('ready'), `${init}: print-signals to be ready`);
    const expected = EXPECTED_PROXIED[init];
    const order = [...NORMAL_SIGNALS.filter((n) => n !== SIGINT && n !== SIGTERM), SIGINT, SIGTERM];
    for (const n of order) {
      // Ours stops the process and exits on SIGINT: SIGTERM has nothing left to reach.
      if (init === 'process-manager' && n === SIGTERM) break;
      const from = run.logs.length;
      if (init === 'process-manager' && n === SIGINT)
        t.same(recorded(record), ['ready', '3'], `${init}: before the stop, only SIGQUIT reached the process`);
      process.kill(run.pid1, n);
      if (init === 'process-manager' && n === SIGINT) continue;
      if (expected.includes(n)) {
        await waitFor(() => recorded(record).includes(String(n)), `${init}: signal ${n} to reach the process`);
      } else if (init === 'process-manager' && (PASSABLE.includes(nameOf(n)) || n === 1)) {
        await waitFor(
          () =>
            run.logs
              .slice(from)
              .some((r) => r['event.action'] === 'manager-signal' && r['process.signal'] === nameOf(n)),
          `the manager to log ${nameOf(n)}`,
        );
      } else {
        // Not collected, or taken and not passed on: gone from PID 1's pending set either way.
        await waitFor(
          () => (pendingSignals(run.pid1) & (1n << BigInt(n - 1))) === 0n,
          `${init}: PID 1 to take signal ${n}`,
        );
      }
    }
    t.equal(
      await within(run.exited, 'the process to exit'),
      143,
      `${init}: the process ended on SIGTERM, and so did the container`,
    );
    const got = init === 'process-manager' ? afterOurStop(recorded(record)) : recorded(record);
    t.same(got, ['ready', ...expected.map(String)], `${init}: what reached the process, once each, in order`);
  }
});

// dumb-init child_processes_test: `sh -c "A & B & wait"`, SIGTERM to PID 1. The
// shell waits for A and B on TERM, so that no init's exit cuts them short.
t.test('SIGTERM reaches the whole process group, gracefully (dumb-init setsid mode; tini -g)', { skip }, async (t) => {
  for (const init of INITS) {
    const dir = tempDir();
    const [a, b] = [path.join(dir, 'a'), path.join(dir, 'b')];
    const run = await startInit(init, '/bin/sh', [
      '-c',
      `trap wait TERM; ${PRINT_SIGNALS} ${a} & ${PRINT_SIGNALS} ${b} & wait`,
    ]);
    await waitFor(() => recorded(a).includes('ready') && recorded(b).includes('ready'), `${init}: both to be ready`);
    process.kill(run.pid1, 'SIGTERM');
    if (init === 'tini') {
      // Without -g tini signals its child only: the shell takes the TERM and waits for A and B, forever.
      const shell = await waitFor(() => childrenOf(run.pid1)[0], 'the shell');
      await waitFor(() => pendingSignals(run.pid1) === 0n && pendingSignals(shell) === 0n, 'the TERM to be taken');
      process.kill(run.pid1, 'SIGKILL');
      await within(run.exited, 'the process to exit');
      t.same([recorded(a), recorded(b)], [['ready'], ['ready']], `${init}: the members of the group got nothing`);
    } else {
      // Ours: the stop's SIGTERM goes to the group (--stop-scope group, the default); dumb-init: setsid mode.
      await within(run.exited, 'the process to exit');
      const got = [recorded(a), recorded(b)].map(
        init === 'process-manager' ? afterOurStop : (lines: string[]) => lines,
      );
      t.same(
        got,
        [
          ['ready', '15'],
          ['ready', '15'],
        ],
        `${init}: each member of the group got SIGTERM`,
      );
    }
  }
});

// dumb-init child_processes_test, for a process that left the main process's group.
t.test(
  'a process left behind outside the group gets SIGTERM before the end, not only the kernel’s SIGKILL',
  { skip },
  async (t) => {
    const expected: Record<InitName, string[]> = {
      // The helper sweeps the namespace (TERM, a grace, KILL) once the manager exits.
      'process-manager': ['ready', '15'],
      // Both signal the main process's group (or only it) and exit; the kernel then SIGKILLs the rest.
      'dumb-init': ['ready'],
      tini: ['ready'],
    };
    for (const init of INITS) {
      const left = path.join(tempDir(), 'left');
      const code = await runInit(init, '/bin/sh', [
        '-c',
        `setsid ${PRINT_SIGNALS} ${left} & while ! grep -q ready ${left} 2>/dev/null; do sleep 0.01; done`,
      ]);
      t.equal(code, 0, `${init}: the container ends with the main process's 0`);
      t.same(recorded(left), expected[init], `${init}: what the leftover got`);
    }
  },
);

/** Runs INIT over cmd on a fresh pseudo-terminal, types `keys` once `until()` holds. */
async function onTerminalUnder(
  init: InitName,
  cmd: string,
  args: string[],
  keys: string,
  until: (output: string) => boolean,
) {
  const run = onTerminal([...UNSHARE, ...initCommand(init, cmd, args)]);
  await waitFor(() => until(run.output()), `${init}: the process to be ready`);
  run.type(keys);
  // The manager's own log lines share the terminal; what the process wrote is the rest.
  const processOutput = () =>
    run
      .output()
      .split('\n')
      .filter((line) => !line.includes('{"@timestamp"'))
      .join('\n');
  return { exited: run.exited, output: processOutput, pid1: run.pid1 };
}

t.test('TTY: what is typed reaches the process (dumb-init tty_test)', { skip }, async (t) => {
  for (const init of INITS) {
    // Typed once tac runs: for ours, once the manager has logged its start (it logs nothing more until tac ends).
    const run = await onTerminalUnder(
      init,
      '/usr/bin/tac',
      [],
      '1\n2\n3\n\x04\x04',
      (output) => init !== 'process-manager' || output.includes('"process.state":"started"'),
    );
    t.equal(await within(run.exited, 'the process to exit'), 0, `${init}: tac ends with 0`);
    // The manager's process inherits its stdin; in its own session, it reads the terminal without job control.
    t.match(run.output(), '3\r\n2\r\n1\r\n', `${init}: tac read the terminal`);
  }
});

t.test('TTY: one Ctrl-C (tini run_outer_tests, dumb-init tty_test)', { skip }, async (t) => {
  // Peers: the child is the terminal's foreground group and gets the SIGINT itself (print-signals
  // records it and goes on). Ours: the manager is, and makes it a graceful stop: TERM, exit 143.
  for (const init of INITS) {
    const record = path.join(tempDir(), 'signals');
    const run = await onTerminalUnder(init, PRINT_SIGNALS, [record], '\x03', () => recorded(record).includes('ready'));
    if (init === 'process-manager') {
      t.equal(
        await within(run.exited, 'the process to exit'),
        143,
        `${init}: the container ends with the stopped process's status`,
      );
      t.same(afterOurStop(recorded(record)), ['ready', '15'], `${init}: the process got SIGTERM, once`);
    } else {
      await waitFor(() => recorded(record).includes('2'), `${init}: the SIGINT to arrive`);
      process.kill(run.pid1()!, 'SIGTERM');
      t.equal(
        await within(run.exited, 'the process to exit'),
        143,
        `${init}: the process ended on the TERM, and so did the container`,
      );
      t.same(recorded(record), ['ready', '2', '15'], `${init}: the process got SIGINT once, then the TERM`);
    }
  }
});
