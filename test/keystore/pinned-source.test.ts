// The CLI reads exactly the files the scan checked. Whoever writes SOURCE_DIR
// gets no window between our check and the CLI's open: a directory on the
// path swapped for a symlink out of SOURCE_DIR, or bytes rewritten, never
// reach the keystore unchecked. The fake CLI's FAKE_KEYSTORE_BEFORE_READ hook
// makes the change at the exact moment a real CLI would open its files, so
// nothing here depends on timing. The first case runs against the built
// executable; the others run the updater in process (same CLI, same files).

import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  ROOT,
  startManager,
  stopManager,
  waitFor,
  within,
  type LogRecord,
  type RunningManager,
} from '../helpers/manager.ts';
import {
  cliCalls,
  KEYSTORE_CLI,
  keystoreLayout,
  secretRevision,
  settingsOf,
  statusWhere as executableStatusWhere,
  writeSecret,
  type KeystoreLayout,
} from '../helpers/keystore.ts';
import {
  inProcessStatusWhere,
  startInProcess,
  type InProcessOptions,
  type InProcessUpdater,
} from '../helpers/keystore-in-process.ts';

/** What add-file may carry per call (MAX_PAIRS_PER_CALL in src/keystore/apply-diff.ts). */
const PAIRS_PER_CALL = 256;
const VICTIM = 'root:$6$VICTIM-BYTES:19000:0:99999:7:::';
const TIMEOUT_MS = 60_000;

/** A shell script run by the fake CLI before add-file reads its files; `once` makes it act on the first call only. */
function writeHook(layout: KeystoreLayout, body: string, once = true): string {
  const hook = path.join(layout.root, `hook-${Math.random().toString(36).slice(2)}.sh`);
  const marker = `${hook}.done`;
  const guard = once ? `[ -e '${marker}' ] && exit 0\ntouch '${marker}'\n` : '';
  fs.writeFileSync(hook, `#!/bin/sh\nset -e\nS='${layout.sourceDir}'\nTS=$(readlink "$S/..data")\n${guard}${body}\n`, {
    mode: 0o755,
  });
  return hook;
}

/** A directory outside SOURCE_DIR holding the victim's bytes under each of the Secret's names. */
function victimDir(layout: KeystoreLayout, names: readonly string[]): string {
  const dir = path.join(layout.root, 'victim');
  fs.mkdirSync(dir);
  for (const name of names) fs.writeFileSync(path.join(dir, name), VICTIM);
  return dir;
}

// The kubelet's timestamped directory, swapped for a symlink to the victim's: every SOURCE_DIR/..<ts>/<name>
// now resolves outside, and O_NOFOLLOW on the last component does not see it.
const SWAP_DIR = (victim: string) => `mv "$S/$TS" "$S/..parked"\nln -s '${victim}' "$S/$TS"`;
const RESTORE_DIR = (layout: KeystoreLayout) => {
  const ts = secretRevision(layout.sourceDir)!;
  fs.unlinkSync(path.join(layout.sourceDir, ts));
  fs.renameSync(path.join(layout.sourceDir, '..parked'), path.join(layout.sourceDir, ts));
};

function hasVictimBytes(layout: KeystoreLayout): boolean {
  return Object.values(settingsOf(layout.keystorePath) ?? {}).some((value) => value.includes('VICTIM'));
}

function numbered(count: number, value: string): Record<string, string> {
  return Object.fromEntries(
    Array.from({ length: count }, (_, i) => [`k.${String(i).padStart(3, '0')}`, `${value}-${i}`]),
  );
}

function addFileCalls(layout: KeystoreLayout) {
  return cliCalls(layout.cliLog).filter((call) => call.argv[0] === 'add-file');
}

/** The updater in process, and what the tests here ask of it. */
interface Updater extends InProcessUpdater {
  readonly pid: number;
  waitForLog(predicate: (record: LogRecord) => boolean, what: string, timeoutMs: number): Promise<LogRecord>;
}

/** What the manager (or this process, running the updater) holds open beneath SOURCE_DIR: nothing, once no add-file call is running. */
function openBeneath(manager: RunningManager | Updater, dir: string): string[] {
  const root = fs.realpathSync(dir);
  const pid = 'child' in manager ? manager.child.pid! : manager.pid;
  return fs.readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      return target.startsWith(`${root}/`) ? [target] : [];
    } catch {
      return []; // closed while we looked
    }
  });
}

async function startExecutable(
  t: Test,
  layout: KeystoreLayout,
  env: Record<string, string> = {},
): Promise<RunningManager> {
  const manager = await startManager({ args: layout.args, env: { ...layout.env, ...env } });
  t.teardown(() => stopManager(manager));
  return manager;
}

async function start(
  t: Test,
  layout: KeystoreLayout,
  env: Record<string, string> = {},
  options: Omit<InProcessOptions, 'env'> = {},
): Promise<Updater> {
  const running = await startInProcess(t, layout, { env, ...options });
  return {
    ...running,
    pid: process.pid,
    waitForLog: (predicate, what, timeoutMs) => waitFor(() => running.logs.find(predicate), what, timeoutMs),
  };
}

function statusWhere(
  updater: RunningManager | Updater,
  predicate: (status: any) => boolean,
  what: string,
  timeoutMs?: number,
): Promise<any> {
  return 'child' in updater
    ? executableStatusWhere(updater, predicate, what, timeoutMs)
    : inProcessStatusWhere(updater, predicate, what, timeoutMs);
}

t.test(
  'a directory swapped for a symlink out of SOURCE_DIR as the CLI opens its files: the CLI still reads what we checked',
  async (t) => {
    const layout = keystoreLayout();
    const name = 's3.client.default.secret_key';
    writeSecret(layout.sourceDir, { [name]: 'GOOD-1' });
    const victim = victimDir(layout, [name]);
    const manager = await startExecutable(t, layout, {
      FAKE_KEYSTORE_BEFORE_READ: writeHook(layout, SWAP_DIR(victim)),
    });

    // The swap stays: the rescan it causes refuses the entry, and says why.
    const status = await statusWhere(
      manager,
      (s) => s.state === 'synced' && s.ignored.length === 1,
      'the rescan after the swap',
      TIMEOUT_MS,
    );
    t.same(
      settingsOf(layout.keystorePath),
      { [name]: 'GOOD-1' },
      'the keystore holds the bytes we checked, not the victim file',
    );
    const [add] = addFileCalls(layout);
    t.same(add.argv, ['add-file', '-f', '--', name, '/dev/fd/3'], 'the CLI was given a descriptor, not a path');
    t.same(status.ignored, [
      { name, reason: `refused: a symlink out of SOURCE_DIR (to ${path.join(victim, name)})`, isHeld: true },
    ]);
    t.match(status.reason, new RegExp(`except ${name.replace(/\./g, '\\.')} \\(refused`));

    RESTORE_DIR(layout);
    writeSecret(layout.sourceDir, { [name]: 'GOOD-2' });
    await statusWhere(
      manager,
      (s) => s.state === 'synced' && s.ignored.length === 0 && s.reason === 'keystore matches SOURCE_DIR',
      'the source to settle',
      TIMEOUT_MS,
    );
    await waitFor(
      () => settingsOf(layout.keystorePath)?.[name] === 'GOOD-2',
      'the next value to be applied',
      TIMEOUT_MS,
    );
    t.notOk(hasVictimBytes(layout), 'the victim never reached the keystore');
    t.same(openBeneath(manager, layout.sourceDir), [], 'no descriptor into SOURCE_DIR is left open');
  },
);

const javaMissing = spawnSync('java', ['-version']).error
  ? 'java is not installed (apt-get install openjdk-17-jdk-headless)'
  : false;

t.test(
  "a real JVM reading /dev/fd/N as add-file does reads the descriptor's file, where the name now leads elsewhere",
  { skip: javaMissing },
  async (t) => {
    const layout = keystoreLayout();
    const name = 'a.setting';
    writeSecret(layout.sourceDir, { [name]: 'CHECKED' });
    const victim = victimDir(layout, [name]);
    const file = path.join(layout.sourceDir, secretRevision(layout.sourceDir)!, name);
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    t.teardown(() => fs.closeSync(fd));
    // Between our open and the JVM's: the timestamped directory becomes a symlink out of SOURCE_DIR.
    const swap = spawnSync('sh', ['-c', writeHook(layout, SWAP_DIR(victim))]);
    t.equal(swap.status, 0, `the swap ran ${swap.stderr}`);

    const child = spawn('java', [path.join(ROOT, 'test/fixtures/keystore/ReadLikeAddFile.java'), '/dev/fd/3', file], {
      stdio: ['ignore', 'pipe', 'pipe', fd],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk) => (out += chunk));
    child.stderr!.on('data', (chunk) => (err += chunk));
    const code = await within(new Promise((resolve) => child.on('close', resolve)), 'java to exit');
    t.equal(code, 0, `java exited 0 ${err}`);
    t.same(
      out.trim().split('\n'),
      ['/dev/fd/3=CHECKED', `${file}=${VICTIM}`],
      "the descriptor gives the checked bytes; the path, as a negative control, the victim's",
    );
  },
);

t.test(
  `a Secret of more than ${PAIRS_PER_CALL} keys takes one add-file call per ${PAIRS_PER_CALL}, and all of it is applied`,
  async (t) => {
    const layout = keystoreLayout();
    const payload = numbered(2 * PAIRS_PER_CALL + 88, 'V1');
    writeSecret(layout.sourceDir, payload);
    const manager = await start(t, layout);
    await statusWhere(manager, (s) => s.state === 'synced' && s.settings.length === 600, 'the first sync', TIMEOUT_MS);
    t.same(settingsOf(layout.keystorePath), payload, 'every key is in the keystore with its value');
    const calls = addFileCalls(layout);
    t.same(
      calls.map((call) => [(call.argv.length - 3) / 2, call.exit]),
      [
        [256, 0],
        [256, 0],
        [88, 0],
      ],
      'three calls: 256, 256 and 88 pairs',
    );
    t.ok(
      calls.every((call) =>
        call.argv
          .slice(3)
          .every((arg, i) => (i % 2 === 0 ? /^k\.\d{3}$/.test(arg) : arg === `/dev/fd/${3 + (i - 1) / 2}`)),
      ),
      'each call names its files /dev/fd/3 upwards',
    );
  },
);

t.test('changed between the scan and the call that would carry it: not applied; the pass looks again', async (t) => {
  // 300 keys: the first add-file call carries k.000-k.255, and its hook changes SOURCE_DIR before the second is prepared.
  const names = Object.keys(numbered(300, ''));

  t.test('a directory on the path swapped for a symlink out of SOURCE_DIR', async (t) => {
    const layout = keystoreLayout();
    const payload = numbered(300, 'V1');
    writeSecret(layout.sourceDir, payload);
    const victim = victimDir(layout, names);
    const manager = await start(t, layout, { FAKE_KEYSTORE_BEFORE_READ: writeHook(layout, SWAP_DIR(victim)) });

    const refusal = await manager.waitForLog(
      (r) => /^not applied: k\.256 .* changed since the scan: it now leads out of SOURCE_DIR/.test(r.message),
      'the refusal',
      TIMEOUT_MS,
    );
    t.match(
      refusal.message,
      `(to ${path.join(victim, 'k.256')}); rescanning SOURCE_DIR`,
      'the log says which file, and where it led',
    );
    const status = await statusWhere(
      manager,
      (s) => s.state === 'synced' && s.ignored.length === 300,
      'the rescan to refuse the swapped entries',
      TIMEOUT_MS,
    );
    t.ok(
      status.ignored.every((entry: { reason: string }) =>
        entry.reason.startsWith('refused: a symlink out of SOURCE_DIR'),
      ),
      'the status says why',
    );
    t.notOk(hasVictimBytes(layout), 'no victim bytes in the keystore');
    t.equal(
      Object.keys(settingsOf(layout.keystorePath)!).length,
      PAIRS_PER_CALL,
      'only the first call, whose files were checked, was applied',
    );

    RESTORE_DIR(layout);
    await statusWhere(
      manager,
      (s) => s.state === 'synced' && s.ignored.length === 0 && s.settings.length === 300,
      'the source to settle',
      TIMEOUT_MS,
    );
    t.same(settingsOf(layout.keystorePath), payload, 'then the rest is applied, with the right values');
    t.same(
      addFileCalls(layout).map((call) => (call.argv.length - 3) / 2),
      [256, 44],
      'the rest in one more call',
    );
    t.same(openBeneath(manager, layout.sourceDir), [], 'no descriptor into SOURCE_DIR is left open');
  });

  t.test('bytes rewritten in place', async (t) => {
    const layout = keystoreLayout();
    const payload = numbered(300, 'V1');
    writeSecret(layout.sourceDir, payload);
    const manager = await start(t, layout, {
      FAKE_KEYSTORE_BEFORE_READ: writeHook(layout, `printf CHANGED > "$S/$TS/k.299"`),
    });

    await manager.waitForLog(
      (r) => /^not applied: k\.299 .* changed since the scan: its bytes differ; rescanning SOURCE_DIR$/.test(r.message),
      'the refusal',
      TIMEOUT_MS,
    );
    await statusWhere(
      manager,
      (s) => s.state === 'synced' && s.settings.length === 300,
      'the rescan to apply the rest',
      TIMEOUT_MS,
    );
    t.same(
      settingsOf(layout.keystorePath),
      { ...payload, 'k.299': 'CHANGED' },
      'the value read again is the one applied',
    );
    t.same(
      addFileCalls(layout).map((call) => (call.argv.length - 3) / 2),
      [256, 44],
      'the second call waited for the rescan',
    );
    t.same(
      openBeneath(manager, layout.sourceDir),
      [],
      'no descriptor into SOURCE_DIR is left open, the refused ones included',
    );
  });
  t.end();
});

t.test('a CLI that did not get the descriptors: the reason names the setting and its source file', async (t) => {
  const layout = keystoreLayout();
  writeSecret(layout.sourceDir, { 'a.setting': 'A', 'b.setting': 'B' });
  // A wrapper that closes inherited descriptors (as sudo does by default), in front of a CLI that checks its
  // files the way AddFileKeyStoreCommand does (Files.exists, then the message ES prints, exit 74).
  const binary = path.join(layout.root, 'closing-wrapper');
  const check = `for arg; do case "$arg" in /dev/fd/*) [ -e "$arg" ] || { printf '\\nERROR: File [%s] does not exist\\n' "$arg" >&2; exit 74; };; esac; done`;
  fs.writeFileSync(
    binary,
    `#!/bin/sh\nexec 3<&- 4<&-\n[ "$1" = add-file ] && ${check}\nexec '${KEYSTORE_CLI}' "$@"\n`,
    { mode: 0o755 },
  );
  const manager = await start(t, layout, { KEYSTORE_BINARY: binary });
  const status = await statusWhere(manager, (s) => s.state === 'failed', 'the failure', TIMEOUT_MS);
  const file = path.join(fs.realpathSync(layout.sourceDir), secretRevision(layout.sourceDir)!, 'a.setting');
  t.equal(
    status.reason.replace(/; retrying .*/, ''),
    `elasticsearch-keystore add-file failed with exit code 74: ERROR: File [/dev/fd/3 (a.setting from ${file})] does not exist` +
      ' (the CLI did not get the descriptor we passed: is /dev/fd missing, or does a wrapper close inherited descriptors?)',
  );
  t.same(openBeneath(manager, layout.sourceDir), [], 'no descriptor into SOURCE_DIR is left open');
});

t.test(
  'no descriptor outlives its call, whatever its end: after many syncs the manager holds as many as when idle',
  async (t) => {
    const layout = keystoreLayout();
    const failMarker = path.join(layout.root, 'fail');
    const hangMarker = path.join(layout.root, 'hang');
    // While a marker exists the call fails (exit 70, nothing saved), or hangs until its deadline kills its group.
    const hook = writeHook(
      layout,
      `[ -e '${failMarker}' ] && exit 1\n[ -e '${hangMarker}' ] && exec sleep 600\nexit 0`,
      false,
    );
    // Made non-executable for a round: the spawn itself fails (EACCES).
    const binary = path.join(layout.root, 'keystore-wrapper');
    fs.writeFileSync(binary, `#!/bin/sh\nexec '${KEYSTORE_CLI}' "$@"\n`, { mode: 0o755 });
    let payload = numbered(5, 'V0');
    writeSecret(layout.sourceDir, payload);
    const manager = await start(
      t,
      layout,
      { FAKE_KEYSTORE_BEFORE_READ: hook, KEYSTORE_BINARY: binary },
      // Retries after each failing round come in tenths of seconds.
      { cliDeadlineMs: 1_000, timerSpeedUp: 10 },
    );
    const fds = (): string[] => fs.readdirSync(`/proc/${manager.pid}/fd`);
    await statusWhere(manager, (s) => s.state === 'synced' && s.settings.length === 5, 'the first sync', TIMEOUT_MS);
    const idle = fds().length;

    const outcomes = [
      { what: 'exit 0', before: () => {}, after: () => {}, reason: /^keystore matches SOURCE_DIR$/ },
      {
        what: 'a failing call',
        before: () => fs.writeFileSync(failMarker, ''),
        after: () => fs.rmSync(failMarker),
        reason: /add-file failed with exit code 70/,
      },
      {
        what: 'a call past its deadline',
        before: () => fs.writeFileSync(hangMarker, ''),
        after: () => fs.rmSync(hangMarker),
        reason: /add-file gave no answer within 1 s/,
      },
      {
        what: 'a spawn error',
        before: () => fs.chmodSync(binary, 0o644),
        after: () => fs.chmodSync(binary, 0o755),
        reason: /is not executable/,
      },
    ];
    for (let round = 1; round <= 12; round++) {
      const outcome = outcomes[round % outcomes.length];
      outcome.before();
      payload = { ...payload, ...numbered(3, `V${round}`) };
      writeSecret(layout.sourceDir, payload);
      await statusWhere(manager, (s) => outcome.reason.test(s.reason), `round ${round}: ${outcome.what}`, TIMEOUT_MS);
      outcome.after();
      await waitFor(
        () => JSON.stringify(settingsOf(layout.keystorePath)) === JSON.stringify(payload),
        `round ${round} to be applied`,
        TIMEOUT_MS,
      );
      await statusWhere(manager, (s) => s.state === 'synced', `round ${round} to settle`, TIMEOUT_MS);
    }
    t.same(openBeneath(manager, layout.sourceDir), [], 'no descriptor into SOURCE_DIR is left open');
    const settled = await waitFor(
      () => (fds().length <= idle ? fds().length : undefined),
      `the descriptor count to return to ${idle}`,
      TIMEOUT_MS,
    );
    t.ok(settled <= idle, `${settled} descriptors open, ${idle} when idle`);
  },
);
