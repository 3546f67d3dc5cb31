// Issue 23 item 1: a log reader that stalls (a container runtime's log pipe
// nobody drains) must not freeze the manager. stdout is a FIFO the test holds
// open for reading but does not read, filled to the last byte: the API still
// answers, lines beyond the queue are dropped and counted, a line reports the
// count once the reader resumes, and SIGTERM still ends the manager.

import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EXECUTABLE, freePort, readAnswer, tempDir, waitFor, within } from '../helpers/manager.ts';

const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;
const O_NONBLOCK_FLAG = 0o4000;

/** Writes into the FIFO until the pipe takes not one byte more. */
function fillPipe(fifo: string): void {
  const fd = fs.openSync(fifo, O_WRONLY | O_NONBLOCK);
  try {
    for (const chunk of [Buffer.from('filler\n'.repeat(512)), Buffer.from('.')]) {
      for (;;) {
        try {
          fs.writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
          throw error;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Everything the pipe holds now (the reader resumes). */
function drain(fd: number): string {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(fd, buffer);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw error;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The manager with `stdoutFd` as its stdout, on a shell that waits for ever; its own process group. */
function spawnWritingTo(stdoutFd: number, dir: string, port: number, stderr: 'pipe' | 'ignore') {
  const args = ['--cmd', '/bin/sh', '--http-port', String(port), '--state-file', path.join(dir, 's.json')];
  return spawn(EXECUTABLE, [...args, '--', '-c', 'sleep 100000 & wait'], {
    stdio: ['ignore', stdoutFd, stderr],
    detached: true,
  });
}

t.test(
  'stdout a full pipe nobody reads: the API answers, SIGTERM ends it, and the dropped lines are counted and reported',
  async (t) => {
    const dir = tempDir();
    const fifo = path.join(dir, 'stdout');
    execFileSync('mkfifo', [fifo]);
    // The reader that does not read; opened first, so that the writer's open does not wait.
    const reader = fs.openSync(fifo, O_RDONLY | O_NONBLOCK);
    const writer = fs.openSync(fifo, O_WRONLY);
    t.teardown(() => fs.closeSync(reader));

    const port = await freePort();
    const child = spawnWritingTo(writer, dir, port, 'pipe');
    fs.closeSync(writer);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    let es = 0;
    t.teardown(() => {
      // The manager, and the process it started in a group of its own, should the manager be frozen.
      for (const group of [child.pid!, es]) {
        try {
          if (group) process.kill(-group, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
    // Every wait below ends with the manager's exit, not only with its deadline.
    let hasExited = false;
    void exited.then(() => (hasExited = true));
    const request = async (method: string, route: string) => {
      if (hasExited) throw new Error(`the manager exited: ${stderr}`);
      return readAnswer(
        await fetch(`http://127.0.0.1:${port}${route}`, { method, signal: AbortSignal.timeout(20_000) }),
      );
    };

    // The pipe still has room for the start-up lines.
    await waitFor(
      () => request('GET', '/health').catch((error: Error) => (hasExited ? Promise.reject(error) : undefined)),
      '/health to answer',
      30_000,
    );
    es = await waitFor(async () => (await request('GET', '/es/status')).json.pid, 'the process to start');
    const flags = parseInt(/^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${es}/fdinfo/1`, 'utf8'))![1], 8);
    t.equal(flags & O_NONBLOCK_FLAG, 0, "the supervised process's stdout is blocking, as it expects");

    // Then the reader stalls for good: the pipe fills (with Elasticsearch's lines, in life).
    fillPipe(fifo);

    // Each mutation logs an audit line: far more than the queue holds.
    const statuses = new Set<number>();
    for (let i = 0; i < 500; i++) statuses.add((await request('POST', '/es/stop')).status);
    t.same([...statuses], [200], 'every stop answered');
    const metrics = (await request('GET', '/metrics')).text;
    const dropped = Number(/^pm_log_lines_dropped_total (\d+)$/m.exec(metrics)?.[1]);
    t.ok(dropped > 0, `lines were dropped and counted (${dropped})`);
    t.equal((await request('GET', '/health')).status, 200, '/health still answers');

    // The reader resumes: the queued lines come, then one line with the count.
    let text = '';
    const report = await waitFor(() => {
      text += drain(reader);
      return text
        .split('\n')
        .filter((line) => line.startsWith('{"@timestamp"'))
        .map((line) => JSON.parse(line))
        .find((record) => record['event.action'] === 'log-lines-dropped');
    }, 'the line that reports the dropped lines');
    t.match(report, {
      'log.level': 'warn',
      'log.dropped_lines': dropped,
      message: `${dropped} log lines were dropped: stdout was full (its reader stalled)`,
    });
    const afterFiller = text.slice(text.lastIndexOf('filler\n') + 'filler\n'.length).replace(/^\.+/, '');
    t.match(
      JSON.parse(afterFiller.slice(0, afterFiller.indexOf('\n'))),
      { 'event.action': 'audit', 'url.path': '/es/stop' },
      'the lines queued while the pipe was full came next, whole',
    );

    // Full again, and SIGTERM: its lines (the signal, the exit) meet the full pipe.
    fillPipe(fifo);
    process.kill(child.pid!, 'SIGTERM');
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 30_000);
    const { code, signal } = await within(exited, 'the manager to exit');
    clearTimeout(timer);
    t.same({ code, signal }, { code: 0, signal: null }, 'SIGTERM ends it, with status 0');
    t.equal(stderr, '', 'nothing on stderr');
  },
);

t.test('stdout a pipe whose reader goes away: the manager carries on, lines are dropped and counted', async (t) => {
  const dir = tempDir();
  const fifo = path.join(dir, 'stdout');
  execFileSync('mkfifo', [fifo]);
  const reader = fs.openSync(fifo, O_RDONLY | O_NONBLOCK);
  const writer = fs.openSync(fifo, O_WRONLY);
  const port = await freePort();
  const child = spawnWritingTo(writer, dir, port, 'ignore');
  fs.closeSync(writer);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  const request = async (method: string, route: string) =>
    readAnswer(await fetch(`http://127.0.0.1:${port}${route}`, { method, signal: AbortSignal.timeout(20_000) }));
  await waitFor(() => request('GET', '/health').catch(() => undefined), '/health to answer', 30_000);
  await waitFor(async () => (await request('GET', '/es/status')).json.pid, 'the process to start');
  // The reader goes away, as `| head -1` does; the next write meets EPIPE.
  fs.closeSync(reader);
  t.equal((await request('POST', '/es/stop')).status, 200, 'a stop is answered');
  const dropped = Number(/^pm_log_lines_dropped_total (\d+)$/m.exec((await request('GET', '/metrics')).text)?.[1]);
  t.ok(dropped > 0, `the lines nobody could read are counted (${dropped})`);
  process.kill(child.pid!, 'SIGTERM');
  t.equal(await within(exited, 'the manager to exit'), 0, 'and it exits cleanly when told to');
});
