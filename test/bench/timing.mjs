// Latencies measured around real processes, real signals and real requests:
// start-up to the first /health answer, a stop's answer after ES exits, an
// orphan's reaping, and a Secret update reaching the keystore.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readFakeKeystore } from '../fixtures/keystore/fake-es.mjs';
import { calibrateClock, epochNs, msBetween, nowMs, sleep, sleepSync } from './clock.mjs';
import {
  NODE_RUNTIME,
  STAMPED_ES,
  UNSHARE,
  baseEnv,
  launch,
  launchAsPid1,
  managerArgv,
  removeTempDir,
  tempDir,
  waitFor,
} from './launch.mjs';
import { readCliLog, readCliTimes, writeCliWrapper, writeSecret } from './material.mjs';
import { secretPayload } from './memory.mjs';
import { freePort, rawGetStatus, request } from './net.mjs';
import { childrenOf, exeOf, hostPidOf, processState, processTable } from './procfs.mjs';

/**
 * exec -> first HTTP 200 on /health: the clock starts before spawn(unshare ...),
 * so the namespace, the helper (the installed entry point) and its fork of the
 * runtime are all inside. The probe is a raw socket every ~1 ms.
 *
 * The baseline, measured in the same run and alternated with ours so both see
 * the same machine: the pinned Node runtime itself serving a bare HTTP server
 * that answers 200 on /health, as PID 1 of its own namespace, same probe loop.
 * What the figure is about is the ratio: no more than the runtime's own floor.
 */
export async function measureStartup({ executable, runs, log }) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const ours = await timeToHealth((dir, port) => [...UNSHARE, ...managerArgv(executable, dir, port)], {
      expectEntryPoint: executable,
    });
    const baseline = await timeToHealth((dir, port) => [...UNSHARE, NODE_RUNTIME, writeBareServer(dir, port)], {});
    samples.push({ ms: ours.ms, probes: ours.probes, baselineMs: baseline.ms, ratio: ours.ms / baseline.ms });
    log(
      `  start-up run ${i + 1}: ${ours.ms.toFixed(1)} ms (${ours.probes} probes); bare node server ${baseline.ms.toFixed(1)} ms; ${(ours.ms / baseline.ms).toFixed(2)}×`,
    );
  }
  return samples;
}

/** The baseline's whole program: a 200 on /health, and an exit on SIGTERM (as PID 1 it has no default action). */
export function writeBareServer(dir, port) {
  const file = path.join(dir, 'bare-server.mjs');
  fs.writeFileSync(
    file,
    `import http from 'node:http';\nprocess.on('SIGTERM', () => process.exit(143));\n` +
      `http.createServer((q, r) => { r.writeHead(200, { 'content-type': 'application/json' }); r.end('{"status":"ok"}'); }).listen(${port}, '127.0.0.1');\n`,
  );
  return file;
}

export async function timeToHealth(argvOf, { expectEntryPoint, env = {} }) {
  const dir = tempDir('pm-bench-startup-');
  const port = await freePort();
  const argv = argvOf(dir, port);
  const started = nowMs();
  const run = launch(argv, { env: baseEnv({ TMPDIR: dir, ...(typeof env === 'function' ? env(dir) : env) }) });
  try {
    let answeredAt = null;
    let probes = 0;
    while (answeredAt === null) {
      if (!run.isRunning()) throw new Error(`exited before answering:\n${run.dump()}`);
      if (nowMs() - started > 15_000) throw new Error(`no /health answer within 15 s:\n${run.dump()}`);
      probes++;
      const status = await rawGetStatus(port, '/health', 1_000);
      if (status === 200) answeredAt = nowMs();
      else await sleep(1);
    }
    const pid1 = childrenOf(run.child.pid)[0];
    if (expectEntryPoint && exeOf(pid1) !== expectEntryPoint)
      throw new Error(`PID 1 is ${exeOf(pid1)}, not the entry point ${expectEntryPoint}`);
    try {
      process.kill(pid1, 'SIGTERM');
    } catch {
      // gone
    }
    const timer = setTimeout(() => run.kill(), 15_000);
    await run.exited;
    clearTimeout(timer);
    return { ms: answeredAt - started, probes };
  } finally {
    await run.kill();
    removeTempDir(dir);
  }
}

/**
 * One manager as PID 1 supervising stamped-es. Stop timing: POST /es/stop is
 * answered at answeredNs; the launcher wrote `date +%s%N` just before its exit.
 * Reap timing: an orphan entered with nsenter writes `date +%s%N` and exits; a
 * 1 ms poller outside watches /proc/<pid> until it is gone.
 */
export async function measureStopAndReap({ executable, stopRuns, reapRuns, log }) {
  const dir = tempDir('pm-bench-stop-');
  const exitFile = path.join(dir, 'es-exit-ns');
  const readyFile = path.join(dir, 'es-ready');
  const port = await freePort();
  const env = baseEnv({ TMPDIR: dir, STAMPED_ES_EXIT_FILE: exitFile, STAMPED_ES_READY_FILE: readyFile });
  const run = await launchAsPid1(managerArgv(executable, dir, port, [], STAMPED_ES), { env });
  const isReady = () => {
    try {
      return fs.readFileSync(readyFile, 'utf8').endsWith('\n');
    } catch {
      return false;
    }
  };
  try {
    await run.waitForLog((r) => r['event.action'] === 'api-listening', 'the API to listen');
    const stops = [];
    for (let i = 0; i < stopRuns; i++) {
      await waitFor(isReady, 'stamped-es to be ready', 20_000, 2);
      await sleep(200);
      fs.rmSync(exitFile, { force: true });
      const from = run.logs.length;
      calibrateClock();
      const answer = await request({ port, method: 'POST', route: '/es/stop' });
      if (answer.status !== 200 || answer.json?.state !== 'stopped')
        throw new Error(`POST /es/stop: ${answer.status} ${answer.text}`);
      const exitNs = BigInt(fs.readFileSync(exitFile, 'utf8').trim());
      const exitLog = run.logs.slice(from).find((r) => r['event.action'] === 'process-exit');
      const sample = {
        ms: msBetween(exitNs, answer.answeredNs),
        // The same from the manager's own log line (ms resolution, written when Node saw the exit).
        fromLogMs: exitLog ? Number(answer.answeredNs / 1_000_000n) - Date.parse(exitLog['@timestamp']) : null,
        exitCode: answer.json?.lastExit?.code ?? null,
      };
      stops.push(sample);
      log(
        `  stop run ${i + 1}: answered ${sample.ms.toFixed(1)} ms after the launcher's exit (log line: ${sample.fromLogMs} ms)`,
      );
      fs.rmSync(readyFile, { force: true });
      const started = await request({ port, method: 'POST', route: '/es/start' });
      if (started.status !== 202) throw new Error(`POST /es/start: ${started.status} ${started.text}`);
    }

    const reaps = [];
    for (let i = 0; i < reapRuns; i++) {
      const pidFile = path.join(dir, `orphan-${i}.pid`);
      const stampFile = path.join(dir, `orphan-${i}.ns`);
      // Double fork inside the namespace: the inner sh's parent exits at once, so it is an orphan of PID 1.
      execFileSync(
        'nsenter',
        [
          '-t',
          String(run.pid1),
          '-p',
          '-m',
          'env',
          `P=${pidFile}`,
          `S=${stampFile}`,
          'sh',
          '-c',
          `(sh -c 'echo $$ > "$P"; sleep 0.5; date +%s%N > "$S"' &); exit 0`,
        ],
        {
          stdio: 'ignore',
          timeout: 10_000,
        },
      );
      const nsPid = await waitFor(
        () => {
          try {
            const text = fs.readFileSync(pidFile, 'utf8');
            return text.endsWith('\n') ? Number(text) : undefined;
          } catch {
            return undefined;
          }
        },
        'the orphan to report its pid',
        5_000,
        1,
      );
      const hostPid = await waitFor(() => hostPidOf(run.pid1, nsPid), 'the orphan in the host /proc', 2_000, 1);
      const parent = processTable().find((entry) => entry.pid === hostPid)?.ppid;
      calibrateClock();
      // Poll every 1 ms (synchronously: no event-loop jitter) until the pid is gone from /proc.
      const deadline = nowMs() + 10_000;
      let goneNs = null;
      let lastSeenNs = null;
      let sawZombie = false;
      while (goneNs === null) {
        const state = processState(hostPid);
        const at = epochNs();
        if (state === null) goneNs = at;
        else {
          lastSeenNs = at;
          if (state === 'Z') sawZombie = true;
          if (nowMs() > deadline) throw new Error(`orphan ${hostPid} still in /proc (state ${state}) after 10 s`);
          sleepSync(1);
        }
      }
      const stampNs = BigInt(
        await waitFor(
          () => fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8').trim(),
          'the orphan stamp',
          2_000,
          1,
        ),
      );
      const sample = {
        ms: msBetween(stampNs, goneNs),
        lastSeenMs: msBetween(stampNs, lastSeenNs),
        sawZombie,
        parentWasPid1: parent === run.pid1,
      };
      reaps.push(sample);
      log(
        `  orphan ${i + 1}: gone ${sample.ms.toFixed(2)} ms after its exit stamp (last seen at ${sample.lastSeenMs.toFixed(2)} ms${sawZombie ? ', seen as zombie' : ''}; parent ${parent === run.pid1 ? 'PID 1' : parent})`,
      );
    }
    return { stops, reaps };
  } finally {
    await run.stop();
    removeTempDir(dir);
  }
}

/**
 * Secret updates through the fake CLI (FAKE_KEYSTORE_DELAY_MS=0, so its time is
 * only its own start-up) wrapped in a timer. For each update: from the `..data`
 * rename to the end of the last CLI call; minus the CLI's own time, measured two
 * ways (its invocation log's durationMs, and the wrapper's wall clock around
 * the process); CLI calls counted; the keystore checked against the Secret.
 */
export async function measureSecretUpdates({ executable, tls, fakeEs, rounds, changeCounts, log }) {
  const dir = tempDir('pm-bench-secret-');
  const sourceDir = path.join(dir, 'secrets');
  const configDir = path.join(dir, 'config');
  fs.mkdirSync(configDir);
  const keystorePath = path.join(configDir, 'elasticsearch.keystore');
  const cliLog = path.join(dir, 'keystore-cli.log');
  const timesFile = path.join(dir, 'keystore-cli.times');
  const wrapper = writeCliWrapper(path.join(dir, 'elasticsearch-keystore'), timesFile);
  writeSecret(sourceDir, secretPayload());
  fakeEs.setKeystorePath(keystorePath);
  const port = await freePort();
  const env = baseEnv({
    TMPDIR: dir,
    SOURCE_DIR: sourceDir,
    KEYSTORE_BINARY: wrapper,
    KEYSTORE_PATH: keystorePath,
    FAKE_KEYSTORE_LOG: cliLog,
    FAKE_KEYSTORE_DELAY_MS: '0',
    RELOAD_CREDENTIALS: 'true',
    ENDPOINT: fakeEs.url,
    USERNAME: 'elastic',
    PASSWORD: 'changeme',
    CERTIFICATES_PATH: tls.caFile,
  });
  const run = await launchAsPid1(managerArgv(executable, dir, port), { env });
  try {
    await run.waitForLog(
      (r) => r['event.action'] === 'keystore-sync' && r['event.outcome'] === 'success',
      'the first keystore sync',
    );
    await run.waitForLog(
      (r) => r['event.action'] === 'state-change' && r['process.state'] === 'started',
      'fake ES to be started',
    );
    await sleep(1_000);
    const samples = Object.fromEntries(changeCounts.map((count) => [count, []]));
    let generation = 1;
    for (let round = 0; round < rounds; round++) {
      for (const changed of changeCounts) {
        const payload = secretPayload(generation++, changed);
        const from = run.logs.length;
        const callsBefore = readCliTimes(timesFile).length;
        const logBefore = readCliLog(cliLog).length;
        calibrateClock();
        const renamedNs = writeSecret(sourceDir, payload);
        const synced = await run.waitForLog(
          (r) => r['event.action'] === 'keystore-sync' && r['event.outcome'] === 'success',
          'the keystore update',
          20_000,
          from,
        );
        await run.waitForLog(
          (r) => r['event.action'] === 'keystore-reload' && r['event.outcome'] === 'success',
          'the reload after the update',
          20_000,
          from,
        );
        const calls = readCliTimes(timesFile).slice(callsBefore);
        const invocations = readCliLog(cliLog).slice(logBefore);
        if (calls.length === 0 || calls.some((call) => call.exit !== 0))
          throw new Error(`unexpected CLI calls: ${JSON.stringify(invocations)}`);
        // biome-ignore lint/complexity/useMathMinMax: the times are BigInt nanoseconds, which Math.max refuses
        const lastEndNs = calls.reduce((latest, call) => (call.endNs > latest ? call.endNs : latest), 0n);
        const totalMs = msBetween(renamedNs, lastEndNs);
        const cliWallMs = calls.reduce((sum, call) => sum + msBetween(call.startNs, call.endNs), 0);
        const cliOwnMs = invocations.reduce((sum, entry) => sum + entry.durationMs, 0);
        const mtimeNs = fs.statSync(keystorePath, { bigint: true }).mtimeNs;
        const { entries } = readFakeKeystore(keystorePath);
        const wrong = Object.entries(payload).filter(([name, value]) => entries.get(name)?.toString('utf8') !== value);
        if (wrong.length > 0)
          throw new Error(`keystore does not match the Secret: ${wrong.map(([name]) => name).join(', ')}`);
        const sample = {
          changed,
          calls: calls.length,
          commands: calls.map((call) => call.command),
          totalMs,
          toMtimeMs: msBetween(renamedNs, mtimeNs),
          cliOwnMs,
          cliWallMs,
          managerMs: totalMs - cliOwnMs,
          managerMsWall: totalMs - cliWallMs,
          loggedSyncMs: (synced['event.duration'] ?? 0) / 1e6,
        };
        samples[changed].push(sample);
        log(
          `  ${changed} changed: rename -> CLI done ${totalMs.toFixed(1)} ms; CLI ${calls.length} call(s) [${sample.commands.join(', ')}] own ${cliOwnMs} ms (durationMs), ${cliWallMs.toFixed(1)} ms (process); manager's share ${sample.managerMs.toFixed(1)} / ${sample.managerMsWall.toFixed(1)} ms`,
        );
        await sleep(300);
      }
    }
    return samples;
  } finally {
    await run.stop();
    fakeEs.setKeystorePath(null);
    removeTempDir(dir);
  }
}
