// Memory and idle CPU, read from /proc from outside: the side-by-side
// processes (bare Node.js, tini) and the manager with every component on.

import fs from 'node:fs';
import path from 'node:path';
import { sleep } from './clock.mjs';
import {
  FAKE_ES,
  FAKE_KEYSTORE_CLI,
  NODE_RUNTIME,
  baseEnv,
  launch,
  launchAsPid1,
  mtlsManagerArgv,
  removeTempDir,
  tempDir,
} from './launch.mjs';
import { writeSecret } from './material.mjs';
import { HOST, freePort, httpsLoad, request } from './net.mjs';
import { readCpuMs, readCpuTicks, readSmapsRollup, readStatus } from './procfs.mjs';

const IDLE_SCRIPT = 'setInterval(() => {}, 1e9)';

/**
 * Bare Node.js of the embedded version doing nothing (the floor), with and
 * without the flags baked into the executable, and Debian's tini as PID 1
 * supervising the same fake ES. All started together, read after settleMs.
 */
export async function measureSideBySide({ runs, settleMs, bakedFlags, tini }) {
  const started = [];
  const dir = tempDir('pm-bench-side-');
  try {
    for (let i = 0; i < runs; i++) {
      started.push({ kind: 'floor', run: launch([NODE_RUNTIME, '-e', IDLE_SCRIPT]) });
      if (bakedFlags)
        started.push({
          kind: 'floorBaked',
          run: launch([NODE_RUNTIME, ...bakedFlags, '-e', IDLE_SCRIPT], { env: baseEnv({ UV_THREADPOOL_SIZE: '1' }) }),
        });
      if (tini)
        started.push({
          kind: 'tini',
          run: await launchAsPid1([tini, '--', FAKE_ES], { expectHelper: false, env: baseEnv({ TMPDIR: dir }) }),
        });
    }
    await sleep(settleMs);
    const samples = { floor: [], floorBaked: [], tini: [] };
    for (const { kind, run } of started) {
      const pid = kind === 'tini' ? run.pid1 : run.child.pid;
      if (!run.isRunning()) throw new Error(`${kind} exited early:\n${run.dump()}`);
      samples[kind].push(readStatus(pid));
    }
    return samples;
  } finally {
    await Promise.all(started.map(({ kind, run }) => (kind === 'tini' ? run.stop(5_000) : run.kill())));
    removeTempDir(dir);
  }
}

/** Twelve settings, as a Secret with a handful of credentials would hold. */
export function secretPayload(generation = 0, changed = 0) {
  const payload = {};
  for (let i = 1; i <= 12; i++) {
    const name = `bench.setting_${String(i).padStart(2, '0')}`;
    payload[name] = i <= changed ? `value-${i}-generation-${generation}` : `value-${i}-initial`;
  }
  return payload;
}

/**
 * The manager as PID 1 of a namespace with every component on: HTTPS API with
 * client CA, keystore watcher (fake CLI) and the reload client, exercised once
 * so undici is loaded. Returns the readings; idle CPU and the request load are optional.
 */
export async function measureFullInstance({
  executable,
  tls,
  fakeEs,
  settleMs,
  idleCpuMs,
  requestBatches,
  batchSize,
  connections,
  log,
}) {
  const dir = tempDir('pm-bench-full-');
  const sourceDir = path.join(dir, 'secrets');
  const configDir = path.join(dir, 'config');
  fs.mkdirSync(configDir);
  const keystorePath = path.join(configDir, 'elasticsearch.keystore');
  writeSecret(sourceDir, secretPayload());
  fakeEs.setKeystorePath(keystorePath);
  const port = await freePort();
  const env = baseEnv({
    TMPDIR: dir,
    SOURCE_DIR: sourceDir,
    KEYSTORE_BINARY: FAKE_KEYSTORE_CLI,
    KEYSTORE_PATH: keystorePath,
    FAKE_KEYSTORE_LOG: path.join(dir, 'keystore-cli.log'),
    FAKE_KEYSTORE_DELAY_MS: '0',
    RELOAD_CREDENTIALS: 'true',
    ENDPOINT: fakeEs.url,
    USERNAME: 'elastic',
    PASSWORD: 'changeme',
    CERTIFICATES_PATH: tls.caFile,
  });
  const argv = mtlsManagerArgv({ executable, host: HOST, port, tls, dir });
  const run = await launchAsPid1(argv, { env });
  try {
    await run.waitForLog((r) => r['event.action'] === 'api-listening', 'the API to listen');
    await run.waitForLog(
      (r) => r['event.action'] === 'state-change' && r['process.state'] === 'started',
      'fake ES to be started',
    );
    // Before any reload: what the manager holds with the reload client configured but not yet used.
    await sleep(settleMs);
    const beforeReload = readStatus(run.managerPid);
    // A Secret update after the start: the keystore is rewritten and the reload client runs once.
    const from = run.logs.length;
    writeSecret(sourceDir, secretPayload(1, 1));
    await run.waitForLog(
      (r) => r['event.action'] === 'keystore-reload' && r['event.outcome'] === 'success',
      'a successful reload of secure settings',
      20_000,
      from,
    );
    // Every component is on and answering: /health open, /es/status only with the client certificate.
    const health = await request({ port, route: '/health', tls: { ca: tls.client.ca } });
    const withoutCert = await request({ port, route: '/es/status', tls: { ca: tls.client.ca } });
    const withCert = await request({ port, route: '/es/status', tls: tls.client });
    const keystore = await request({ port, route: '/keystore/status', tls: tls.client });
    if (health.status !== 200 || health.json?.status !== 'ok')
      throw new Error(`/health: ${health.status} ${health.text}`);
    if (withoutCert.status !== 401 || withCert.status !== 200)
      throw new Error(`mutual TLS not in force: ${withoutCert.status} without, ${withCert.status} with a certificate`);
    const counters = keystore.json?.counters ?? {};
    log(
      `  all components on: /health ok; keystore ${keystore.json?.state}, ${counters.syncs} syncs, ${counters.cliCalls} CLI calls, ${counters.reloads} reload(s); mTLS 401 without / 200 with a client certificate`,
    );

    await sleep(settleMs);
    const reading = {
      beforeReload,
      helper: readStatus(run.pid1),
      helperSmaps: readSmapsRollup(run.pid1),
      idle: readStatus(run.managerPid),
      idleSmaps: readSmapsRollup(run.managerPid),
    };

    if (idleCpuMs) {
      const before = {
        manager: readCpuTicks(run.managerPid),
        helper: readCpuTicks(run.pid1),
        managerMs: readCpuMs(run.managerPid),
        helperMs: readCpuMs(run.pid1),
      };
      log(`  idle CPU: watching for ${idleCpuMs / 1000} s`);
      await sleep(idleCpuMs);
      const after = {
        manager: readCpuTicks(run.managerPid),
        helper: readCpuTicks(run.pid1),
        managerMs: readCpuMs(run.managerPid),
        helperMs: readCpuMs(run.pid1),
      };
      reading.idleCpu = {
        seconds: idleCpuMs / 1000,
        managerTicks: after.manager - before.manager,
        helperTicks: after.helper - before.helper,
        // Exact time on CPU (schedstat, ns): ticks are this rounded into 10 ms steps.
        managerCpuMs: after.managerMs - before.managerMs,
        helperCpuMs: after.helperMs - before.helperMs,
      };
      reading.afterIdle = readStatus(run.managerPid);
    }

    reading.batches = [];
    for (let batch = 0; batch < requestBatches; batch++) {
      const ticksBefore = readCpuTicks(run.managerPid);
      const load = await httpsLoad({
        port,
        tls: tls.client,
        routes: ['/es/status', '/health'],
        count: batchSize,
        connections,
      });
      const ticksAfter = readCpuTicks(run.managerPid);
      if (load.failures > 0) throw new Error(`${load.failures} requests failed; first: ${load.firstFailure}`);
      await sleep(3_000);
      const status = readStatus(run.managerPid);
      reading.batches.push({
        requests: load.count,
        elapsedMs: load.elapsedMs,
        connectionsOpened: load.sockets,
        cpuTicks: ticksAfter - ticksBefore,
        status,
      });
      log(
        `  ${(batch + 1) * batchSize} requests: ${(load.elapsedMs / 1000).toFixed(1)} s over ${load.sockets} connections, RssAnon ${(status.RssAnon / 1024).toFixed(1)} MiB`,
      );
    }
    reading.afterLoadSmaps = readSmapsRollup(run.managerPid);
    if (!run.isRunning()) throw new Error(`the namespace ended during the measurement:\n${run.dump()}`);
    return reading;
  } finally {
    await run.stop();
    fakeEs.setKeystorePath(null);
    removeTempDir(dir);
  }
}
