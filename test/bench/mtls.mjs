// Memory of the manager under mutual-TLS clients that each open a *new*
// connection and present a client certificate (issue 12 item 3: the pinned
// runtime once kept ~4 KB of every such connection).

import { sleep } from './clock.mjs';
import { baseEnv, launchAsPid1, mtlsManagerArgv, removeTempDir, tempDir } from './launch.mjs';
import { HOST, freePort, request, runLoad } from './net.mjs';
import { readSmapsRollup, readStatus } from './procfs.mjs';

/**
 * count GET /es/status, each on a fresh TLS connection (no agent, so no
 * session resumption) presenting the client certificate; `concurrency` at a
 * time. Every answer must be 200. Bounded by timeLimitMs.
 */
function newConnectionLoad({ port, tls, count, concurrency, timeLimitMs = 600_000 }) {
  return runLoad({
    count,
    concurrency,
    timeLimitMs,
    what: 'connections',
    routes: ['/es/status'],
    send: (route) => request({ port, route, tls, timeoutMs: 10_000 }),
  });
}

/**
 * The manager as PID 1 (so with the helper's allocator tuning) serving HTTPS
 * with a client CA; RssAnon idle, then after each batch of new connections.
 */
export async function measureNewMtlsConnections({ executable, tls, batches, batchSize, concurrency, settleMs, log }) {
  const dir = tempDir('pm-bench-mtls-');
  const port = await freePort();
  const argv = mtlsManagerArgv({ executable, host: HOST, port, tls, dir });
  const run = await launchAsPid1(argv, { env: baseEnv({ TMPDIR: dir, KEYSTORE_UPDATER: 'false' }) });
  try {
    await run.waitForLog(
      (r) => r['event.action'] === 'state-change' && r['process.state'] === 'started',
      'fake ES to be started',
    );
    const first = await request({ port, route: '/es/status', tls: tls.client });
    if (first.status !== 200) throw new Error(`mutual TLS: ${first.status} ${first.text}`);
    await sleep(settleMs);
    const reading = { idle: readStatus(run.managerPid), batches: [] };
    log(`  idle RssAnon ${(reading.idle.RssAnon / 1024).toFixed(1)} MiB`);
    for (let batch = 0; batch < batches; batch++) {
      // The peak during the batch: what a pod's memory limit must allow, whatever is given back afterwards.
      let peakRssAnon = 0;
      const sampler = setInterval(() => (peakRssAnon = Math.max(peakRssAnon, readStatus(run.managerPid).RssAnon)), 250);
      const load = await newConnectionLoad({ port, tls: tls.client, count: batchSize, concurrency }).finally(() =>
        clearInterval(sampler),
      );
      if (load.failures > 0) throw new Error(`${load.failures} connections failed; first: ${load.firstFailure}`);
      await sleep(3_000);
      const status = readStatus(run.managerPid);
      reading.batches.push({
        connections: load.count,
        elapsedMs: load.elapsedMs,
        peakRssAnon,
        status,
        smaps: readSmapsRollup(run.managerPid),
      });
      log(
        `  ${(batch + 1) * batchSize} new connections: ${(load.elapsedMs / 1000).toFixed(1)} s, RssAnon ${(status.RssAnon / 1024).toFixed(1)} MiB (peak during the batch ${(peakRssAnon / 1024).toFixed(1)} MiB)`,
      );
    }
    if (!run.isRunning()) throw new Error(`the namespace ended during the measurement:\n${run.dump()}`);
    return reading;
  } finally {
    await run.stop();
    removeTempDir(dir);
  }
}
