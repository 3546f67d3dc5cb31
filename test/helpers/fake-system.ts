// Fakes for every side effect of the supervisor (src/supervisor/system.ts),
// in the spirit of supervisord's DummyOptions: processes that answer signals
// as the test tells them, a group probe, a state file in memory, a logger
// that keeps its records, and a clock that moves only when the test says so.
// Exits arrive a loop turn after the signal, as real ones do.

import type { Config } from '../../src/config/config.ts';
import type { LogFields, Logger } from '../../src/log/logger.ts';
import type { Target } from '../../src/supervisor/signal-process.ts';
import type { ExitStatus, SpawnResult } from '../../src/supervisor/spawn-process.ts';
import type { PersistedState, ReadResult } from '../../src/supervisor/state-file.ts';
import type { Clock } from '../../src/clock/clock.ts';
import type { SupervisorSystem } from '../../src/supervisor/system.ts';

export interface FakeProcess {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  /** exit: SIGTERM ends it with 143 (a shell's default); ignore: only SIGKILL does. */
  onTerm: 'exit' | 'ignore';
  /** A child in its group that ignores SIGTERM and outlives it: only a group SIGKILL ends it. */
  hasResilientChild: boolean;
  /** SIGSTOPped: a SIGTERM waits for SIGCONT, as the kernel holds it. */
  isStopped: boolean;
  readonly isRunning: boolean;
  /** Ends it now, as a crash would. */
  exit(status: ExitStatus): void;
}

export interface SentSignal {
  readonly kind: Target['kind'];
  readonly pid: number;
  readonly signal: NodeJS.Signals;
  readonly reason: string;
}

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: LogFields;
}

/** Lets every pending exit and promise chain run: a few loop turns, no time. */
export async function settle(): Promise<void> {
  for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
}

export interface FakeClock extends Clock {
  /** Moves time forward, firing each timer that falls due in order and letting its consequences run. */
  advance(ms: number): Promise<void>;
  /** How long until each pending timer fires, soonest first. */
  pendingTimers(): number[];
}

function createFakeClock(startMs = Date.parse('2026-01-01T00:00:00.000Z')): FakeClock {
  let nowMs = startMs;
  let nextId = 0;
  const timers = new Map<number, { readonly at: number; readonly fn: () => void }>();
  const setTimer = (ms: number, fn: () => void): (() => void) => {
    const id = nextId++;
    timers.set(id, { at: nowMs + ms, fn });
    return () => void timers.delete(id);
  };
  return {
    now: () => new Date(nowMs),
    monotonicMs: () => nowMs,
    setTimer,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        const aborted = () => reject(new DOMException('The operation was aborted', 'AbortError'));
        if (signal?.aborted) return aborted();
        const cancel = setTimer(ms, resolve);
        signal?.addEventListener('abort', () => (cancel(), aborted()), { once: true });
      }),
    async advance(ms) {
      const target = nowMs + ms;
      for (;;) {
        await settle();
        const due = [...timers]
          .filter(([, timer]) => timer.at <= target)
          .sort(([a, x], [b, y]) => x.at - y.at || a - b)[0];
        if (!due) break;
        timers.delete(due[0]);
        nowMs = due[1].at;
        due[1].fn();
      }
      nowMs = target;
      await settle();
    },
    pendingTimers: () => [...timers.values()].map((timer) => timer.at - nowMs).sort((a, b) => a - b),
  };
}

export interface FakeSystem {
  readonly system: SupervisorSystem;
  readonly clock: FakeClock;
  readonly log: Logger & { readonly records: LogEntry[] };
  /** Every process spawned, in order. */
  readonly processes: FakeProcess[];
  /** The command line of every spawn, failed ones included. */
  readonly spawnCalls: (readonly string[])[];
  readonly signals: SentSignal[];
  /** Every state the supervisor wrote, in order. */
  readonly writes: PersistedState[];
  /** What the next spawns do: each entry is used once, then spawns succeed. */
  readonly spawnFailures: string[];
  /** Applied to every process at spawn. */
  processDefaults: Partial<Pick<FakeProcess, 'onTerm' | 'hasResilientChild'>>;
  /** While set, writes of the state file throw this. */
  stateWriteError: Error | null;
  /** Writes that failed with stateWriteError. */
  failedWrites: number;
  /** Resolves spawns only when the test calls the returned function (a start in flight). */
  holdSpawns(): () => void;
}

export function createFakeSystem(stored: ReadResult = { kind: 'absent' }): FakeSystem {
  const clock = createFakeClock();
  const records: LogEntry[] = [];
  const processes: FakeProcess[] = [];
  const signals: SentSignal[] = [];
  const writes: PersistedState[] = [];
  let spawnGate: Promise<void> | null = null;

  const fake: FakeSystem = {
    clock,
    log: {
      records,
      debug: (message, fields = {}) => void records.push({ level: 'debug', message, fields }),
      info: (message, fields = {}) => void records.push({ level: 'info', message, fields }),
      warn: (message, fields = {}) => void records.push({ level: 'warn', message, fields }),
      error: (message, fields = {}) => void records.push({ level: 'error', message, fields }),
      setLevel: () => {},
    },
    processes,
    spawnCalls: [],
    signals,
    writes,
    spawnFailures: [],
    processDefaults: {},
    stateWriteError: null,
    failedWrites: 0,
    holdSpawns() {
      let release = () => {};
      spawnGate = new Promise((resolve) => (release = resolve));
      return () => {
        spawnGate = null;
        release();
      };
    },
    system: {
      async spawn(cmd, args): Promise<SpawnResult> {
        fake.spawnCalls.push([cmd, ...args]);
        if (spawnGate) await spawnGate;
        const code = fake.spawnFailures.shift();
        if (code)
          return {
            ok: false,
            code,
            reason: `cannot run --cmd: ${code} (fake)`,
            detail: `cannot run the fake: ${code}`,
          };
        const process = fakeProcess(1000 + processes.length * 10, fake.processDefaults);
        processes.push(process);
        return { ok: true, process };
      },
      signal(target, signal, reason) {
        signals.push({ kind: target.kind, pid: target.pid, signal, reason });
        const process = processes.find((p) => p.pid === target.pid);
        if (!process) return false;
        return deliver(process, target.kind, signal);
      },
      findStrays: () => [],
      livingGroupMembers(pgid) {
        const process = processes.find((p) => p.pid === pgid);
        if (!process) return [];
        return [...(process.isRunning ? [pgid] : []), ...(process.hasResilientChild ? [pgid + 1] : [])];
      },
      stateStore: {
        read: () => stored,
        sweep: () => [],
        keepAside: () => (stored.kind === 'corrupt' ? '/fake/es.state.json.corrupt-x' : null),
        async write(state) {
          if (fake.stateWriteError) {
            fake.failedWrites++;
            throw fake.stateWriteError;
          }
          writes.push(structuredClone(state));
        },
      },
      clock,
    },
  };
  return fake;
}

const pendingTerm = new WeakSet<FakeProcess>();

function fakeProcess(pid: number, defaults: FakeSystem['processDefaults']): FakeProcess {
  let resolveExit: (status: ExitStatus) => void = () => {};
  let isRunning = true;
  const process: FakeProcess = {
    pid,
    exited: new Promise((resolve) => (resolveExit = resolve)),
    onTerm: defaults.onTerm ?? 'exit',
    hasResilientChild: defaults.hasResilientChild ?? false,
    isStopped: false,
    get isRunning() {
      return isRunning;
    },
    exit(status) {
      if (!isRunning) return;
      isRunning = false;
      setImmediate(() => resolveExit(status));
    },
  };
  return process;
}

/** What a signal does to the fake, as the kernel and a shell would; false when nothing was there. */
function deliver(process: FakeProcess, kind: Target['kind'], signal: NodeJS.Signals): boolean {
  const reachesChild = kind === 'group' && process.hasResilientChild;
  if (!process.isRunning && !reachesChild) return false;
  switch (signal) {
    case 'SIGKILL':
      if (kind === 'group') process.hasResilientChild = false;
      process.exit({ code: null, signal: 'SIGKILL' });
      break;
    case 'SIGTERM':
      if (process.isStopped) pendingTerm.add(process);
      else if (process.onTerm === 'exit') process.exit({ code: 143, signal: null });
      break;
    case 'SIGCONT':
      process.isStopped = false;
      if (pendingTerm.delete(process)) deliver(process, 'process', 'SIGTERM');
      break;
    default:
      break;
  }
  return true;
}

/** The configuration the supervisor reads, with test defaults. */
export function supervisorConfig(overrides: Partial<Config> = {}): Config {
  return {
    name: 'es',
    cmd: '/fake/elasticsearch',
    args: ['-Ea=b'],
    stopTimeoutMs: 5_000,
    shutdownTimeoutMs: 25_000,
    stopScope: 'group',
    onExit: 'exit',
    stateFile: '/fake/es.state.json',
    socketPath: '/fake/es.sock',
    httpHost: '127.0.0.1',
    httpPort: 0,
    forwardSignals: ['SIGQUIT'],
    logLevel: 'info',
    keystore: {
      mode: 'false',
      sourceDir: '',
      binary: '',
      keystorePath: '',
      reload: false,
      certificatesPath: '',
      endpoint: '',
    },
    readyCheck: { kind: 'none' },
    readyTimeoutMs: 3_000,
    drainDelayMs: 0,
    configPaths: [],
    ...overrides,
  };
}
