// The delivery path in real containers: the Pod of test/e2e/pod.yaml played
// with `podman kube play` (init container installing the executable into an
// emptyDir, the Elasticsearch container running it as its command), then the
// original system's container tests (original-design.md §7) and PID 1's
// reaping of what `podman exec` leaves behind.
//
// Needs podman, runc, catatonit (the pod's infra container) and busybox-static
// (the fake Elasticsearch image), and the built executable (BUILD_DIR or
// PM_EXECUTABLE, as test/helpers/manager.ts). Skipped only when podman is not
// installed at all. PM_E2E_KEEP_IMAGES=1 keeps the run's images.

import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  buildImages,
  containerEvents,
  createPodman,
  esProcesses,
  EXECUTABLE,
  isStaleRun,
  parsePs,
  playPod,
  podmanMissing,
  removeRunsSync,
  runId,
  sha256OfFile,
  until,
  writeContainersConf,
  type CommandResult,
  type PlayedPod,
  type Podman,
  type ProcessRow,
} from './podman.ts';

/** How long a "nothing happens" observation lasts (an absence cannot be waited for). */
const QUIET_MS = 2_000;

interface LogLine {
  readonly message: string;
  readonly 'event.action'?: string;
  readonly [field: string]: unknown;
}

/** The manager's JSON log lines among the container's output. */
function managerLogs(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{"@timestamp"'))
    .map((line) => JSON.parse(line) as LogLine);
}

function findLog(lines: readonly LogLine[], action: string, fields: Record<string, unknown> = {}): LogLine | undefined {
  return lines.find(
    (line) => line['event.action'] === action && Object.entries(fields).every(([key, value]) => line[key] === value),
  );
}

/** PID 1, the manager and the Elasticsearch launcher as they must be: helper -> manager -> launcher. */
function processTree(rows: readonly ProcessRow[], esPid: number) {
  const pid1 = rows.find((row) => row.pid === 1);
  const manager = rows.find((row) => row.ppid === 1 && row.args.startsWith('/mnt/pm/process-manager '));
  const launcher = rows.find((row) => row.pid === esPid);
  return { pid1, manager, launcher };
}

const missing = podmanMissing();
if (missing) {
  t.plan(0, `skipping the container tests: ${missing}`);
} else {
  const run = runId();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${run}-`));
  const podman: Podman = createPodman(writeContainersConf(dir));
  let images: { initImage: string; esImage: string };
  // A dozen Pods and their waits: more than tap's default file timeout when things go wrong.
  t.setTimeout(900_000);
  // Every run's own pods, containers, volumes and images go at exit, even when
  // the process is cut short (teardowns do not run then).
  const keepImages = process.env.PM_E2E_KEEP_IMAGES === '1';
  process.on('exit', () => {
    removeRunsSync(podman.env, (name) => name.startsWith(run), !keepImages);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  t.before(async () => {
    const stale = removeRunsSync(podman.env, isStaleRun, true);
    for (const entry of fs.readdirSync(os.tmpdir()).filter(isStaleRun)) {
      fs.rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true });
      stale.push(path.join(os.tmpdir(), entry));
    }
    if (stale.length > 0) t.comment(`removed what earlier, interrupted runs left: ${stale.join(' ')}`);
    if (!fs.existsSync(EXECUTABLE))
      throw new Error(`${EXECUTABLE} is missing: run 'node build.mjs' (BUILD_DIR=${process.env.BUILD_DIR ?? 'dist'})`);
    const started = Date.now();
    images = buildImages(podman, run);
    t.comment(`built ${images.initImage} and ${images.esImage} in ${Date.now() - started} ms`);
  });

  /** Plays a fresh Pod for one test and removes it (after printing its logs on failure) when the test ends. */
  const podFor = async (tt: Test, label: string, env?: Record<string, string>): Promise<PlayedPod> => {
    const pod = await playPod({ podman, dir, name: `${run}-${label}`, ...images, env });
    tt.teardown(async () => {
      if (!tt.passing()) tt.comment(`podman logs ${pod.container}:\n${await pod.logs()}`);
      await pod.remove();
    });
    return pod;
  };

  /** Started, with the whole fake-ES tree under the manager under PID 1. */
  const assertStarted = async (tt: Test, pod: PlayedPod): Promise<any> => {
    const status = await pod.waitForStatus((s) => s.state === 'started', 'state started');
    const tree = await pod.waitForEsTree();
    const { pid1, manager, launcher } = processTree(await pod.ps(), status.pid);
    tt.ok(launcher, `the launcher is pid ${status.pid}, as /es/status says`);
    tt.equal(launcher?.ppid, manager?.pid, "the launcher is the manager's child");
    tt.equal(manager?.ppid, 1, "the manager is PID 1's child");
    tt.match(pid1?.args, /^\/mnt\/pm\/process-manager /, "PID 1 runs the Pod's command");
    tt.equal(
      (await pod.exec('readlink', '/proc/1/exe')).stdout.trim(),
      '/mnt/pm/process-manager',
      'PID 1 is the entry point, the helper',
    );
    tt.equal(
      (await pod.exec('readlink', `/proc/${manager?.pid}/exe`)).stdout.trim(),
      '/mnt/pm/.process-manager-runtime',
      'its child, the manager, is the runtime beside it',
    );
    tt.ok(
      tree.every((row) => row.pgid === status.pid),
      'the whole tree is in the launcher’s process group',
    );
    return status;
  };

  const assertNoEs = async (tt: Test, pod: PlayedPod, why: string): Promise<void> => {
    tt.same(esProcesses(await pod.ps()), [], `no Elasticsearch process: ${why}`);
  };

  t.test(
    'plays the Pod: the init container installs the executable, the manager runs as the command under the PID-1 helper',
    async (tt) => {
      const pod = await podFor(tt, 'play');
      const status = await assertStarted(tt, pod);
      tt.match(status, { name: 'es', state: 'started', desired: 'started', restarts: 0, lastExit: null });

      const init = await containerEvents(podman, pod.initContainer, pod.playedAt);
      const initDied = init.find((event) => event.status === 'died');
      tt.ok(initDied, `the init container ran (events: ${init.map((e) => e.status).join(', ')})`);
      tt.equal(initDied?.exitCode, 0, 'and exited 0');
      const esStart = (await containerEvents(podman, pod.container, pod.playedAt)).find(
        (event) => event.status === 'start',
      );
      tt.ok(esStart && initDied && esStart.time > initDied.time, 'the Elasticsearch container started after it');

      const helper = path.join(path.dirname(EXECUTABLE), 'pm-helper');
      tt.equal(
        (await pod.exec('stat', '-c', '%a %s', '/mnt/pm/process-manager')).stdout.trim(),
        `755 ${fs.statSync(helper).size}`,
        'the entry point installed with mode 0755',
      );
      tt.equal(
        (await pod.exec('sha256sum', '/mnt/pm/process-manager')).stdout.split(' ')[0],
        sha256OfFile(helper),
        'the very helper that was built',
      );
      tt.equal(
        (await pod.exec('stat', '-c', '%a %s', '/mnt/pm/.process-manager-runtime')).stdout.trim(),
        `755 ${fs.statSync(EXECUTABLE).size}`,
        'the runtime installed with mode 0755',
      );
      tt.equal(
        (await pod.exec('sha256sum', '/mnt/pm/.process-manager-runtime')).stdout.split(' ')[0],
        sha256OfFile(EXECUTABLE),
        'the very executable that was built',
      );
      const entries = (await pod.exec('ls', '-a', '/mnt/pm')).stdout.split('\n').filter(Boolean);
      tt.ok(
        ['.process-manager-runtime', 'es.state.json', 'process-manager'].every((e) => entries.includes(e)),
        `the volume holds the entry point, the runtime and the state file: ${entries.join(' ')}`,
      );
      tt.notOk(
        entries.some((entry) => entry.endsWith('.tmp')),
        'no temporary file is left behind',
      );
      const mount = (await pod.exec('cat', '/proc/mounts')).stdout
        .split('\n')
        .find((line) => line.split(' ')[1] === '/mnt/pm');
      tt.ok(mount, '/mnt/pm is a mount of its own');
      tt.not(mount?.split(' ')[2], 'tmpfs', `the emptyDir is on disk, not in memory (${mount})`);
      tt.match(
        JSON.parse((await pod.exec('cat', '/mnt/pm/es.state.json')).stdout),
        { version: 1, name: 'es', desired: 'started', state: 'started' },
        'the state file is on the emptyDir',
      );
      // issue 21: not root, as the official images run ES; install (root) gave the volume to that user.
      tt.equal((await pod.exec('id', '-u')).stdout.trim(), '1000', 'the Elasticsearch container runs as uid 1000');
      tt.equal(
        (await pod.exec('stat', '-c', '%u %g %a', `/proc/${status.pid}`)).stdout
          .trim()
          .split(' ')
          .slice(0, 2)
          .join(':'),
        '1000:0',
        'and so does ES',
      );
      tt.equal(
        (await pod.exec('stat', '-c', '%u:%g %a', '/mnt/pm')).stdout.trim(),
        '1000:0 775',
        'install gave /mnt/pm to 1000:0, mode 0775',
      );
      tt.equal(
        (await pod.exec('stat', '-c', '%u', '/mnt/pm/es.state.json')).stdout.trim(),
        '1000',
        'the state file is written by the manager as uid 1000',
      );
      tt.equal(
        (await pod.exec('stat', '-c', '%u:%g', '/mnt/pm/process-manager')).stdout.trim(),
        '0:0',
        'what PID 1 runs stays root’s',
      );

      tt.equal(
        await pod.inspect('{{.Path}}'),
        '/mnt/pm/process-manager',
        "the container's command is the installed entry point",
      );
      const environ = (await pod.exec('cat', `/proc/${status.pid}/environ`)).stdout.split('\0');
      tt.notOk(
        environ.some((entry) => entry.startsWith('PM_')),
        'no PM_ variable reaches Elasticsearch',
      );

      const health = await pod.api('GET', '/health');
      tt.equal(health.status, 200, 'GET /health answers 200');
      tt.equal(health.json.status, 'ok');
      tt.match(
        await pod.inspect('{{json .Config.Healthcheck.Test}}'),
        `http://localhost:${pod.port}/health`,
        'podman made the httpGet liveness probe its health check',
      );
      const probe = await podman.run(['healthcheck', 'run', pod.container]);
      tt.equal(
        probe.code,
        0,
        `the liveness probe, run by podman as the manifest says, passes (${probe.stdout.trim()}${probe.stderr.trim()})`,
      );
    },
  );

  t.test('API stop, then a container restart: Elasticsearch stays stopped; not ready from the drain on', async (tt) => {
    const pod = await podFor(tt, 'apistop');
    await assertStarted(tt, pod);
    // The fake ES image serves no HTTP: the manifest's readiness probe asks ES itself, so it says so.
    tt.match(
      (await pod.api('GET', '/es/ready')).json,
      { ready: false, reason: 'not_answering' },
      'the readiness probe asks ES, not only the process state',
    );
    const stopping = pod.api('POST', '/es/stop');
    const draining = await until(
      async () => {
        const ready = await pod.api('GET', '/es/ready');
        return ready.json?.reason === 'stopping' ? ready : undefined;
      },
      'the drain to begin',
      10_000,
      50,
    );
    tt.equal(draining.status, 503, 'NotReady during the --drain-delay');
    tt.equal((await pod.status()).state, 'started', 'while Elasticsearch still runs (SIGTERM comes after the drain)');
    tt.equal((await pod.api('GET', '/health')).status, 200, 'and the liveness probe still passes');
    const stopped = await stopping;
    tt.equal(stopped.status, 200);
    tt.match(
      (await pod.api('GET', '/es/ready')).json,
      { ready: false, reason: 'not_started', state: 'stopped' },
      'NotReady while stopped',
    );
    tt.match(stopped.json, { state: 'stopped', desired: 'stopped', pid: null, lastExit: { code: 143, signal: null } });
    await assertNoEs(tt, pod, 'after the API stop');
    tt.equal(await pod.inspect('{{.State.Running}}'), 'true', 'the manager and its container keep running');

    await podman.ok(['stop', '--time', '30', pod.container]);
    tt.equal(await pod.waitForExit(), 0, 'the container exits 0: nothing was running');
    const after = await pod.start();
    tt.match(
      after,
      { state: 'stopped', desired: 'stopped', pid: null },
      'after podman start, the state file keeps it stopped',
    );
    await sleep(QUIET_MS);
    tt.match(await pod.status(), { state: 'stopped' }, `still stopped ${QUIET_MS} ms later`);
    await assertNoEs(tt, pod, 'after the container restart');

    const started = await pod.api('POST', '/es/start');
    tt.equal(started.status, 202, 'POST /es/start starts it');
    tt.match(await assertStarted(tt, pod), { desired: 'started' });
  });

  t.test(
    'ctl inside the container (kubectl exec): stop, status and start over the Unix socket, with no flag',
    async (tt) => {
      const pod = await podFor(tt, 'ctl');
      const before = await assertStarted(tt, pod);
      // podman exec, like kubectl exec, runs with the container's environment: ctl finds the socket beside the state file.
      const stop = await podman.run(['exec', pod.container, '/mnt/pm/process-manager', 'ctl', 'stop']);
      tt.equal(stop.code, 0, `ctl stop exits 0 (${stop.stderr.trim()})`);
      tt.match(stop.stdout, /^es stopped, since \S+; last exit: code 143 at \S+\n$/, 'one human line');
      await assertNoEs(tt, pod, 'after ctl stop');
      tt.equal((await pod.exec('stat', '-c', '%a', '/mnt/pm/es.sock')).stdout.trim(), '600', 'the socket is mode 0600');
      const status = await podman.run(['exec', pod.container, '/mnt/pm/process-manager', 'ctl', '--json', 'status']);
      tt.equal(status.code, 0);
      tt.match(JSON.parse(status.stdout), { state: 'stopped', desired: 'stopped', pid: null });
      const audit = await until(
        async () => findLog(managerLogs(await pod.logs()), 'audit', { 'url.path': '/es/stop' }),
        'the audit line',
        30_000,
        200,
      );
      tt.equal(audit['client.address'], 'unix:/mnt/pm/es.sock', 'the stop is audited as coming through the socket');
      const start = await podman.run(['exec', pod.container, '/mnt/pm/process-manager', 'ctl', 'start']);
      tt.equal(start.code, 0, `ctl start exits 0 (${start.stderr.trim()})`);
      const after = await assertStarted(tt, pod);
      tt.not(after.pid, before.pid, 'a new process');
    },
  );

  t.test('API kill, then a container restart (podman kill): stays killed', async (tt) => {
    const pod = await podFor(tt, 'apikill');
    await assertStarted(tt, pod);
    const killed = await pod.api('POST', '/es/kill');
    tt.equal(killed.status, 200);
    tt.match(killed.json, {
      state: 'killed',
      desired: 'stopped',
      pid: null,
      lastExit: { code: null, signal: 'SIGKILL' },
    });
    await assertNoEs(tt, pod, 'after the API kill');
    tt.equal(await pod.inspect('{{.State.Running}}'), 'true', 'the manager and its container keep running');

    await podman.ok(['kill', pod.container]);
    tt.equal(await pod.waitForExit(), 137, 'podman kill: the container dies of SIGKILL');
    tt.match(await pod.start(), { state: 'killed', desired: 'stopped', pid: null }, 'after podman start, still killed');
    await sleep(QUIET_MS);
    tt.match(await pod.status(), { state: 'killed' }, `still killed ${QUIET_MS} ms later`);
    await assertNoEs(tt, pod, 'after the container restart');
  });

  // Each trigger ends the container; its exit code is the manager's, which is
  // Elasticsearch's status; `podman start` (the kubelet's restart) brings it back.
  interface ExitCase {
    readonly title: string;
    readonly label: string;
    readonly env?: Record<string, string>;
    readonly trigger: (pod: PlayedPod, esPid: number) => Promise<CommandResult>;
    readonly exitCode: number;
    /** [min, max] ms from the trigger to the exit, when that matters. */
    readonly exitWithinMs?: readonly [number, number];
    /** What the manager logged before exiting, or null when it was killed outright. */
    readonly logs: ((lines: LogLine[]) => [string, boolean][]) | null;
    /** lastExit after the restart; undefined: not checked. */
    readonly lastExit?: { code: number | null; signal: string | null } | null;
  }
  const unexpectedExit =
    (fields: Record<string, unknown>, status: number) =>
    (lines: LogLine[]): [string, boolean][] => [
      ['the exit was unasked for', !!findLog(lines, 'process-exit', { 'event.reason': 'unexpected', ...fields })],
      [`the manager exited with status ${status}`, !!findLog(lines, 'manager-exit', { 'process.exit_code': status })],
    ];
  const shutdown =
    (code: number) =>
    (lines: LogLine[]): [string, boolean][] => [
      [
        'the manager received SIGTERM (forwarded by PID 1)',
        !!findLog(lines, 'manager-signal', { 'process.signal': 'SIGTERM' }),
      ],
      [
        'it stopped Elasticsearch as a shutdown',
        !!findLog(lines, 'process-exit', { 'event.reason': 'shutdown', 'process.exit_code': code }),
      ],
      [`and exited with status ${code}`, !!findLog(lines, 'manager-exit', { 'process.exit_code': code })],
    ];
  const exitCases: ExitCase[] = [
    {
      title: 'SIGTERM to the Elasticsearch process',
      label: 'esterm',
      trigger: (pod, esPid) => podman.run(['exec', pod.container, 'kill', '-TERM', String(esPid)]),
      exitCode: 143,
      logs: unexpectedExit({ 'process.exit_code': 143 }, 143),
      lastExit: { code: 143, signal: null },
    },
    {
      title: 'SIGKILL to the Elasticsearch process',
      label: 'eskill',
      trigger: (pod, esPid) => podman.run(['exec', pod.container, 'kill', '-KILL', String(esPid)]),
      exitCode: 137,
      logs: (lines) => [
        ...unexpectedExit({ 'process.signal': 'SIGKILL' }, 137)(lines),
        // The server and controller outlive a SIGKILLed launcher.
        [
          'the manager killed what was left of the group',
          !!findLog(lines, 'signal', { 'process.signal': 'SIGKILL', 'signal.target': 'group' }),
        ],
      ],
      lastExit: { code: null, signal: 'SIGKILL' },
    },
    {
      title: 'SIGTERM to PID 1 from inside the container (kill -TERM 1)',
      label: 'pid1term',
      trigger: (pod) => podman.run(['exec', pod.container, 'kill', '-TERM', '1']),
      exitCode: 143,
      logs: shutdown(143),
      lastExit: { code: 143, signal: null },
    },
    {
      title: 'SIGTERM to PID 1 from the runtime (podman kill --signal TERM)',
      label: 'podmanterm',
      trigger: (pod) => podman.run(['kill', '--signal', 'TERM', pod.container]),
      exitCode: 143,
      logs: shutdown(143),
      lastExit: { code: 143, signal: null },
    },
    {
      // podman 4.3 does not map terminationGracePeriodSeconds to the stop timeout: pass the manifest's 30 s.
      title: 'podman stop',
      label: 'stop',
      trigger: (pod) => podman.run(['stop', '--time', '30', pod.container]),
      exitCode: 143,
      logs: shutdown(143),
      lastExit: { code: 143, signal: null },
    },
    {
      title: 'podman stop, Elasticsearch exiting 3 on SIGTERM',
      label: 'stopcode',
      env: { FAKE_ES_EXIT_CODE: '3' },
      trigger: (pod) => podman.run(['stop', '--time', '30', pod.container]),
      exitCode: 3,
      logs: shutdown(3),
      lastExit: { code: 3, signal: null },
    },
    {
      // The manifest's relation between the two timeouts at work: the manager, not the runtime, ends it.
      title:
        'podman stop, Elasticsearch ignoring SIGTERM: the manager SIGKILLs it after --drain-delay (5 s) + --shutdown-timeout (20 s), before the 30 s grace period',
      label: 'stophang',
      env: { FAKE_ES_ON_TERM: 'ignore', FAKE_ES_RESILIENT_CHILD: '1' },
      trigger: (pod) => podman.run(['stop', '--time', '30', pod.container]),
      exitCode: 137,
      exitWithinMs: [19_000, 29_000],
      logs: (lines) => [
        [
          'the manager received SIGTERM (forwarded by PID 1)',
          !!findLog(lines, 'manager-signal', { 'process.signal': 'SIGTERM' }),
        ],
        [
          'it sent SIGKILL to the group when --shutdown-timeout ran out',
          !!findLog(lines, 'signal', { 'process.signal': 'SIGKILL', 'signal.target': 'group' }),
        ],
        ['and exited with status 137', !!findLog(lines, 'manager-exit', { 'process.exit_code': 137 })],
      ],
      lastExit: { code: null, signal: 'SIGKILL' },
    },
    {
      title: 'podman kill (SIGKILL to PID 1)',
      label: 'podmankill',
      trigger: (pod) => podman.run(['kill', pod.container]),
      exitCode: 137,
      logs: null,
    },
  ];

  for (const c of exitCases) {
    t.test(`${c.title}: the container exits ${c.exitCode}; after podman start, started`, async (tt) => {
      const pod = await podFor(tt, c.label, c.env);
      const before = await assertStarted(tt, pod);
      const triggeredAt = Date.now();
      // An exec whose container goes down under it may report that; the exit code below is what counts.
      const triggered = await c.trigger(pod, before.pid);
      if (triggered.code !== 0) tt.comment(`trigger exited ${triggered.code}: ${triggered.stderr.trim()}`);
      tt.equal(await pod.waitForExit(), c.exitCode, `exit code ${c.exitCode}`);
      const exitedAfterMs = Date.now() - triggeredAt;
      tt.comment(`exited ${exitedAfterMs} ms after the trigger`);
      if (c.exitWithinMs) {
        const [min, max] = c.exitWithinMs;
        tt.ok(
          exitedAfterMs >= min && exitedAfterMs <= max,
          `exited between ${min} and ${max} ms after the trigger (${exitedAfterMs})`,
        );
      }
      tt.equal(await pod.inspect('{{.State.Running}}'), 'false', 'the container has exited');
      const lines = managerLogs(await pod.logs());
      if (c.logs) for (const [what, found] of c.logs(lines)) tt.ok(found, what);
      else tt.notOk(findLog(lines, 'manager-exit'), 'the manager was killed: it did not get to exit');

      await pod.start();
      const after = await assertStarted(tt, pod);
      tt.match(after, { desired: 'started', restarts: 1 }, 'started again after the container restart');
      tt.ok(Date.parse(after.startedAt) > Date.parse(before.startedAt), 'a new Elasticsearch');
      if (c.lastExit !== undefined)
        tt.same(
          after.lastExit && { code: after.lastExit.code, signal: after.lastExit.signal },
          c.lastExit,
          'lastExit survived the restart',
        );
    });
  }

  t.test(
    'podman exec leaves children behind: PID 1 reaps them all, and the manager still owns the real exit status',
    async (tt) => {
      const pod = await podFor(tt, 'zombies');
      await assertStarted(tt, pod);
      const quiet = ['>/dev/null', '2>&1', '</dev/null'].join(' ');
      // Background children outliving the exec'd shell, a double fork, a burst of short-lived orphans, and orphans already dead.
      // `sleep 30` is ended by hand below once seen: on a busy machine it could otherwise end before ps looks.
      await podman.ok(['exec', pod.container, 'sh', '-c', `sleep 2 ${quiet} & sleep 30 ${quiet} & exit 0`]);
      await podman.ok(['exec', pod.container, 'sh', '-c', `(sh -c 'sleep 1; exit 7' ${quiet} &); exit 0`]);
      await podman.ok([
        'exec',
        pod.container,
        'sh',
        '-c',
        `i=0; while [ $i -lt 20 ]; do sleep 0.$((i % 10)) ${quiet} & i=$((i + 1)); done; exit 0`,
      ]);
      await podman.ok(['exec', pod.container, 'sh', '-c', `true ${quiet} & true ${quiet} & true ${quiet} & exit 0`]);

      // The shell may have exited before its child exec'd sleep: wait for the child to be sleep, not for time.
      let seen: ProcessRow[] = [];
      const orphans = await until(
        async () => {
          seen = (await pod.ps()).filter((row) => row.args === 'sleep 30');
          return seen.length > 0 ? seen : undefined;
        },
        "the exec'd shell's child to run sleep",
        60_000,
        100,
      ).catch(() => seen);
      tt.ok(
        orphans.length === 1 && orphans[0].ppid === 1,
        `the exec'd shell's child was re-parented to PID 1 (${JSON.stringify(orphans)})`,
      );
      if (orphans[0]) await podman.ok(['exec', pod.container, 'sh', '-c', `kill ${orphans[0].pid}`]);

      const leftovers = (rows: ProcessRow[]) =>
        rows.filter(
          (row) =>
            row.stat.startsWith('Z') ||
            /^sleep ([0-3](\.\d)?|30)$/.test(row.args) ||
            row.args === 'sh -c sleep 1; exit 7',
        );
      let last: ProcessRow[] = [];
      const clean = await until(
        async () => {
          last = await pod.ps();
          return leftovers(last).length === 0 ? last : undefined;
        },
        'every orphan to end and be reaped',
        60_000,
        250,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; left: ${JSON.stringify(leftovers(last))}`);
      });
      tt.same(
        clean.filter((row) => row.stat.startsWith('Z')),
        [],
        'no zombie',
      );

      const status = await assertStarted(tt, pod);
      tt.equal(status.restarts, 0, 'Elasticsearch was not disturbed');
      const stopped = await pod.api('POST', '/es/stop');
      tt.match(
        stopped.json.lastExit,
        { code: 143, signal: null },
        "the manager still collects Elasticsearch's own exit status",
      );
    },
  );

  t.test('control: a PID 1 that does not reap leaves the zombie this check looks for', async (tt) => {
    const name = `${run}-control`;
    tt.teardown(() => podman.run(['rm', '--force', '--time', '0', name]));
    // busybox sleep as PID 1 never calls wait().
    await podman.ok([
      'run',
      '--detach',
      '--name',
      name,
      '--network',
      'host',
      '--entrypoint',
      '/bin/sleep',
      images.esImage,
      '100000',
    ]);
    await podman.ok(['exec', name, 'sh', '-c', 'sleep 0.2 >/dev/null 2>&1 </dev/null & exit 0']);
    const zombies = await until(
      async () => {
        const rows = parsePs(await podman.ok(['exec', name, 'ps', '-o', 'pid,ppid,pgid,stat,args']));
        const found = rows.filter((row) => row.stat.startsWith('Z') && row.ppid === 1);
        return found.length > 0 ? found : undefined;
      },
      'a zombie under a non-reaping PID 1',
      60_000,
      250,
    );
    tt.equal(zombies.length, 1, 'the orphan stays a zombie');
  });

  t.test('nothing of this run is left: pods, containers, volumes', async (tt) => {
    const ours = (args: string[]) =>
      podman.ok(args).then((out) => out.split('\n').filter((line) => line.startsWith(run)));
    tt.same(await ours(['pod', 'ps', '--format', '{{.Name}}']), [], 'no pod');
    tt.same(await ours(['ps', '--all', '--format', '{{.Names}}']), [], 'no container');
    tt.same(await ours(['volume', 'ls', '--format', '{{.Name}}']), [], 'no volume');
  });
}
