// Where the log lines go: stdout, without ever waiting for its reader.
//
// Node writes to a pipe on stdout synchronously, so a container runtime whose
// log reader stalls would freeze the event loop in write(2): no API, no
// /health, no SIGTERM for as long as the pipe stays full. Setting O_NONBLOCK
// on descriptor 1 is no way out, because that open file is shared with
// Elasticsearch, which would then meet EAGAIN in its own writes. So the pipe
// is opened a second time (/proc/self/fd/1), non-blocking and for the manager
// alone; what the pipe cannot take waits in a small queue, and what the queue
// cannot take is dropped and counted.

import fs from 'node:fs';

/** What may wait for a stalled reader (some 250 lines); beyond it, lines are dropped. */
export const QUEUE_LIMIT_BYTES = 64 * 1024;
/** How often a full pipe is tried again. */
const RETRY_MS = 100;

export interface StdoutWriter {
  /** Never blocks, never throws. */
  write(line: string): void;
  /** Lines dropped since start, because the reader stalled or went away. */
  droppedLines(): number;
  /** Called once the queue has drained after drops, with how many were dropped since the last call. */
  onRecovered(report: (dropped: number) => void): void;
}

export function createStdoutWriter(): StdoutWriter {
  // A write error on stderr (EPIPE) would otherwise be thrown as an unhandled 'error' event.
  process.stderr.on('error', () => {});
  const fd = reopenPipeNonBlocking();
  return fd === undefined ? blockingWriter() : queueingWriter(fd);
}

/** A second, non-blocking open file on stdout's pipe, or undefined when stdout is not a pipe or cannot be reopened. */
function reopenPipeNonBlocking(): number | undefined {
  try {
    if (!fs.fstatSync(1).isFIFO()) return undefined;
    // O_NONBLOCK also keeps open(2) from waiting for a reader: with none left it fails (ENXIO), and the
    // blocking writer below then meets EPIPE and drops. The descriptor is close-on-exec: nothing we start inherits it.
    return fs.openSync('/proc/self/fd/1', fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch {
    return undefined; // no /proc, or a runtime that does not take these flags
  }
}

function queueingWriter(fd: number): StdoutWriter {
  const queue: Buffer[] = [];
  let queuedBytes = 0;
  let isBroken = false;
  let dropped = 0;
  let droppedUnreported = 0;
  // biome-ignore lint/correctness/noUnusedVariables: read by write()'s ??=, which keeps one retry scheduled at most
  let retry: NodeJS.Timeout | undefined;
  let report: (dropped: number) => void = () => {};

  /** Bytes the pipe took: 0 when it is full or gone. */
  const writeSome = (data: Buffer): number => {
    try {
      return fs.writeSync(fd, data);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
      // EPIPE (the reader closed its end), or anything else: nobody will read these.
      isBroken = true;
      dropped += queue.length;
      queue.length = 0;
      queuedBytes = 0;
      return 0;
    }
  };

  const flush = (): void => {
    retry = undefined;
    while (queue.length > 0 && !isBroken) {
      const head = queue[0];
      const written = writeSome(head);
      if (written === 0) break;
      queuedBytes -= written;
      if (written === head.length) queue.shift();
      else queue[0] = head.subarray(written); // a line longer than the pipe's atomic size, taken in part
    }
    if (queue.length > 0) {
      // Polled, not watched: a stalled reader costs one failed write(2) per retry, and nothing while all goes well.
      retry = setTimeout(flush, RETRY_MS).unref();
      return;
    }
    if (droppedUnreported > 0 && !isBroken) {
      const count = droppedUnreported;
      droppedUnreported = 0;
      report(count);
    }
  };

  // At exit, whatever the pipe takes now; the rest is lost rather than waited for.
  process.once('exit', () => {
    if (queue.length > 0) flush();
  });

  return {
    write(line) {
      if (isBroken) {
        dropped++;
        return;
      }
      const data = Buffer.from(line);
      if (queue.length === 0) {
        const written = writeSome(data);
        if (isBroken) dropped++;
        if (written === data.length || isBroken) return;
        queue.push(data.subarray(written));
        queuedBytes += data.length - written;
        retry ??= setTimeout(flush, RETRY_MS).unref();
        return;
      }
      if (queuedBytes + data.length > QUEUE_LIMIT_BYTES) {
        dropped++;
        droppedUnreported++;
        return;
      }
      queue.push(data);
      queuedBytes += data.length;
    },
    droppedLines: () => dropped,
    onRecovered(callback) {
      report = callback;
    },
  };
}

/**
 * For a stdout that is a file or a terminal (which do not stall for long), or
 * a pipe that could not be reopened: Node's own writes. Once its reader is
 * gone (`| head -1`, a log shipper that died) lines are dropped: an EPIPE must
 * never take the manager, and with it the supervised process, down.
 */
function blockingWriter(): StdoutWriter {
  let isBroken = false;
  let dropped = 0;
  // EPIPE, or EBADF for a closed descriptor: any write error means nobody reads.
  process.stdout.on('error', () => {
    isBroken = true;
  });
  return {
    write(line) {
      if (isBroken) {
        dropped++;
        return;
      }
      try {
        process.stdout.write(line);
      } catch {
        isBroken = true; // a synchronous stdout (file, terminal) throws instead of emitting 'error'
        dropped++;
      }
    },
    droppedLines: () => dropped,
    onRecovered() {
      // Once broken, a stdout never recovers: there is nobody to tell.
    },
  };
}
