// Memory after hostile input to the keystore updater: a Secret entry of the
// largest size a Secret allows (1 MiB: hashed by streaming, added by the CLI)
// and a 100 MB answer to the reload call (read no further than 256 KiB),
// read from /proc once the manager is idle again.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { sleep } from './clock.mjs';
import { FAKE_ES, FAKE_KEYSTORE_CLI, baseEnv, launchAsPid1, removeTempDir, tempDir } from './launch.mjs';
import { writeSecret } from './material.mjs';
import { HOST, freePort } from './net.mjs';
import { readStatus } from './procfs.mjs';

const HUGE_ANSWER_BYTES = 100e6;
const ENTRY_BYTES = 1024 * 1024;

/** An "Elasticsearch" whose reload answer is 100 MB of JSON-looking bytes. */
async function startHugeAnswerServer() {
  const sockets = new Set();
  let sent = 0;
  const server = http.createServer((request, response) => {
    request.resume();
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(HUGE_ANSWER_BYTES) });
    response.on('error', () => {});
    const chunk = Buffer.alloc(64 * 1024, ' ');
    let written = 0;
    const pump = () => {
      while (written < HUGE_ANSWER_BYTES) {
        written += chunk.length;
        sent += chunk.length;
        if (!response.write(chunk)) return void response.once('drain', pump);
      }
      response.end();
    };
    pump();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  return {
    url: `http://${HOST}:${server.address().port}`,
    sent: () => sent,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(resolve);
      }),
  };
}

export async function measureHostileInput({ executable, settleMs, runs, log }) {
  const readings = [];
  for (let i = 0; i < runs; i++) {
    const dir = tempDir('pm-bench-hostile-');
    const es = await startHugeAnswerServer();
    const sourceDir = path.join(dir, 'secrets');
    const configDir = path.join(dir, 'config');
    fs.mkdirSync(configDir);
    writeSecret(sourceDir, { 'bench.small': 'v0' });
    const env = baseEnv({
      TMPDIR: dir,
      SOURCE_DIR: sourceDir,
      KEYSTORE_BINARY: FAKE_KEYSTORE_CLI,
      KEYSTORE_PATH: path.join(configDir, 'elasticsearch.keystore'),
      FAKE_KEYSTORE_DELAY_MS: '0',
      RELOAD_CREDENTIALS: 'true',
      ENDPOINT: es.url,
    });
    const port = await freePort();
    const argv = [
      executable,
      '--cmd',
      FAKE_ES,
      '--http-host',
      HOST,
      '--http-port',
      String(port),
      '--state-file',
      path.join(dir, 'es.state.json'),
    ];
    const run = await launchAsPid1(argv, { env });
    try {
      await run.waitForLog(
        (r) => r['event.action'] === 'state-change' && r['process.state'] === 'started',
        'fake ES to be started',
      );
      await sleep(settleMs);
      const before = readStatus(run.managerPid);
      const from = run.logs.length;
      writeSecret(sourceDir, { 'bench.small': 'v1', 'bench.large': Buffer.alloc(ENTRY_BYTES, 'x') });
      await run.waitForLog(
        (r) => r['event.action'] === 'keystore-sync' && r['event.outcome'] === 'success',
        'the 1 MiB entry to be synced',
        30_000,
        from,
      );
      const failure = await run.waitForLog(
        (r) => r['event.action'] === 'keystore-reload' && r['event.outcome'] === 'failure',
        'the reload to refuse the 100 MB answer',
        30_000,
        from,
      );
      if (!/larger than 256 KiB/.test(failure.message))
        throw new Error(`unexpected reload failure: ${failure.message}`);
      await sleep(settleMs);
      const after = readStatus(run.managerPid);
      readings.push({ before, after, peak: after.VmHWM, serverSentBytes: es.sent() });
      log(
        `  run ${i + 1}: RssAnon ${(before.RssAnon / 1024).toFixed(1)} → ${(after.RssAnon / 1024).toFixed(1)} MiB idle after a 1 MiB entry and a 100 MB answer (peak VmHWM ${(after.VmHWM / 1024).toFixed(1)} MiB; the server sent ${(es.sent() / 2 ** 20).toFixed(1)} MiB into the socket buffers)`,
      );
    } finally {
      await run.stop(5_000);
      await es.close();
      removeTempDir(dir);
    }
  }
  return readings;
}
