// Figure 12 (issue 24): the CPU one readiness probe costs. The manager's side
// is an httpGet on GET /es/ready that makes the manager ask ES (HTTPS, CA,
// basic auth) once; the other side is what ECK's exec probe ran in the ES
// container each period: `bash -c 'curl ... https://127.0.0.1:9200/'`
// (without the container runtime's own exec cost, which only adds to it).
// Probes are a little over a second apart, so each one runs a real check and
// none is answered from the 1-s reuse. The figure's probes share one kept
// connection; a kubelet opens a new one for each probe (keep-alives off), so
// the same probes are also measured that way, beside the figure.

import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  NODE_RUNTIME,
  baseEnv,
  launch,
  launchAsPid1,
  managerArgv,
  removeTempDir,
  tempDir,
  waitFor,
} from './launch.mjs';
import { readCpuMs, readStatus } from './procfs.mjs';

const PROBE_GAP_MS = 1_100;
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
/** Asynchronous: the fake ES answering curl runs in this very process. */
const run = promisify(execFile);

/** CPU (user + system) of this process's waited-for children so far, in ms (clock ticks of 10 ms). */
function childrenCpuMs() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS_PER_SECOND;
}

/** As a kubelet's httpGet probe does (Go's transport with keep-alives off): a new connection each time, `Connection: close`. */
function kubeletGet(port) {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host: '127.0.0.1', port, path: '/es/ready', agent: false, headers: { connection: 'close' } },
      (response) => response.resume().on('end', () => resolve(response.statusCode)),
    );
    request.on('error', reject);
  });
}

/**
 * The floor under the kubelet-style figure, in the same run: the pinned runtime, under the executable's baked V8
 * flags, serving a bare node:http server that answers every request with a fixed JSON body; the same probes, each on
 * a new connection. What the manager costs beyond it is its own.
 */
export async function measureBareProbeCost({ bakedFlags, probes }) {
  const dir = tempDir('pm-bench-ready-floor-');
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const script = path.join(dir, 'bare-ready.mjs');
  fs.writeFileSync(
    script,
    `import http from 'node:http';\n` +
      `http.createServer((q, r) => { r.writeHead(200, { 'content-type': 'application/json' }); r.end('{"ready":true}'); }).listen(${port}, '127.0.0.1');\n`,
  );
  const server = launch([NODE_RUNTIME, ...(bakedFlags ?? []), script], { env: baseEnv({ UV_THREADPOOL_SIZE: '1' }) });
  try {
    await waitFor(async () => (await kubeletGet(port).catch(() => 0)) === 200, 'the bare server', 20_000, 20);
    for (let i = 0; i < 3; i++) await kubeletGet(port);
    await sleep(PROBE_GAP_MS);
    const idleBefore = readCpuMs(server.child.pid);
    await sleep(PROBE_GAP_MS * 3);
    const idlePerGapMs = (readCpuMs(server.child.pid) - idleBefore) / 3;
    const before = readCpuMs(server.child.pid);
    for (let i = 0; i < probes; i++) {
      await sleep(PROBE_GAP_MS);
      if ((await kubeletGet(port)) !== 200) throw new Error('the bare server answered not 200');
    }
    return (readCpuMs(server.child.pid) - before - idlePerGapMs * probes) / probes;
  } finally {
    await server.kill();
    removeTempDir(dir);
  }
}

/** `readyCheck`: `http` (each probe asks ES) or `none` (the probe alone). */
export async function measureProbeCost({ executable, tls, fakeEs, probes, readyCheck, log }) {
  const dir = tempDir('pm-bench-ready-');
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const env = baseEnv({
    KEYSTORE_UPDATER: 'false',
    ENDPOINT: fakeEs.url,
    USERNAME: 'elastic',
    PASSWORD: 'changeme',
    CERTIFICATES_PATH: tls.caFile,
  });
  const manager = await launchAsPid1(managerArgv(executable, dir, port, ['--ready-check', readyCheck]), { env });
  const probe = async () => (await fetch(`http://127.0.0.1:${port}/es/ready`)).status;
  const kubeletProbe = () => kubeletGet(port);
  try {
    await waitFor(async () => (await probe().catch(() => 0)) === 200, 'the first ready answer', 20_000, 50);
    // Warm: the first checks load undici and build its TLS context.
    for (let i = 0; i < 3; i++) {
      await sleep(PROBE_GAP_MS);
      await probe();
    }
    const esBefore = fakeEs.requests.length;
    await sleep(PROBE_GAP_MS);
    const idleBefore = readCpuMs(manager.managerPid);
    await sleep(PROBE_GAP_MS * 3);
    const idlePerGapMs = (readCpuMs(manager.managerPid) - idleBefore) / 3;
    const before = readCpuMs(manager.managerPid);
    for (let i = 0; i < probes; i++) {
      await sleep(PROBE_GAP_MS);
      if ((await probe()) !== 200) throw new Error('a probe answered not ready');
    }
    const managerMs = (readCpuMs(manager.managerPid) - before - idlePerGapMs * probes) / probes;
    // What answering probes keeps in memory (the client, its TLS context, the kept connection).
    const rssAnonKiB = readStatus(manager.managerPid).RssAnon;
    const checks = fakeEs.requests.length - esBefore;
    // Not the figure (it keeps its definition): what the same probes cost when each one opens its own connection.
    const freshBefore = readCpuMs(manager.managerPid);
    for (let i = 0; i < probes; i++) {
      await sleep(PROBE_GAP_MS);
      if ((await kubeletProbe()) !== 200) throw new Error('a probe answered not ready');
    }
    const freshConnectionMs = (readCpuMs(manager.managerPid) - freshBefore - idlePerGapMs * probes) / probes;

    const curl = `curl -s -o /dev/null --cacert ${tls.caFile} -u elastic:changeme -w '%{http_code}' ${fakeEs.url}/`;
    const childrenBefore = childrenCpuMs();
    for (let i = 0; i < probes; i++) {
      const { stdout: code } = await run('bash', ['-c', curl], { encoding: 'utf8' });
      if (code !== '200') throw new Error(`curl answered ${code}`);
    }
    const execMs = (childrenCpuMs() - childrenBefore) / probes;
    log(
      `  one /es/ready probe (--ready-check ${readyCheck}): ${managerMs.toFixed(2)} ms of manager CPU (${freshConnectionMs.toFixed(2)} ms on a new connection each, as a kubelet); bash -c curl: ${execMs.toFixed(2)} ms; ${checks} ES requests for ${probes} probes; manager RssAnon ${(rssAnonKiB / 1024).toFixed(1)} MiB`,
    );
    return {
      readyCheck,
      rssAnonKiB,
      managerMs,
      freshConnectionMs,
      execMs,
      ratio: managerMs / execMs,
      checks,
      probes,
      idlePerGapMs,
    };
  } finally {
    await manager.stop();
    removeTempDir(dir);
  }
}
