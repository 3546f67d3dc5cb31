// PID 1 belongs to the compiled helper (helper.c), because Node cannot reap
// processes it did not spawn: libuv only waits for its own children, and a
// waitpid(-1) inside this process would steal the supervised process's exit
// status from libuv. Installed (`install DIR`), the helper is the container's
// command and starts this runtime itself. Started as PID 1 directly, this
// executable writes the helper out and hands PID 1 over to it.

import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic-write.ts';
import { readBoundedFile } from '../files/bounded-read.ts';
import type { Logger } from '../log/logger.ts';
import { loadHelperBinary } from './helper-binary.ts';
import { MALLOC_TUNING_MARKER } from './malloc-tuning.ts';

/** Set by the helper in the environment of the manager it starts; scrubbed from the supervised process with every PM_ variable. */
const UNDER_HELPER_ENV = 'PM_UNDER_HELPER';
/** The write end of the pipe on which the helper waits before it forwards any signal. */
const READY_FD_ENV = 'PM_READY_FD';
/** Tells the helper which runtime to start, instead of the one installed beside it. */
const RUNTIME_ENV = 'PM_HELPER_RUNTIME';
/**
 * The PM_ variables the helper reads or sets for the manager it starts
 * (helper.c's header lists them): not options, so never an operator's typo.
 */
export const HELPER_VARIABLES = [
  UNDER_HELPER_ENV,
  READY_FD_ENV,
  RUNTIME_ENV,
  'PM_HELPER_GRACE_MS',
  MALLOC_TUNING_MARKER,
];
const HELPER_FILE_NAME = '.process-manager-helper';

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/**
 * Returns when this process should go on as the manager: it is not PID 1, it
 * already runs under the helper, or the helper could not be used (then
 * reaping is off and that is logged). Otherwise the process image is
 * replaced and this never returns.
 */
export async function handOverPid1(log: Logger): Promise<void> {
  if (process.pid !== 1) {
    if (isUnderHelper())
      log.debug('running under the PID-1 helper', {
        'event.action': 'pid1-helper',
        'process.parent.pid': process.ppid,
      });
    return;
  }
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve !== 'function') {
    log.warn(
      'running as PID 1 without the helper: this runtime has no process.execve; orphaned processes will not be reaped',
      { 'event.action': 'pid1-helper-unavailable' },
    );
    return;
  }
  const binary = await loadHelperBinary();
  if (!binary) {
    log.warn(
      'running as PID 1 without the helper: it is only carried by the built executable; orphaned processes will not be reaped',
      { 'event.action': 'pid1-helper-unavailable' },
    );
    return;
  }
  const failures: string[] = [];
  for (const dir of [path.dirname(process.execPath), os.tmpdir()]) {
    const helperPath = path.join(dir, HELPER_FILE_NAME);
    try {
      await writeHelper(helperPath, binary);
      log.debug('handing PID 1 to the helper', { 'event.action': 'pid1-handoff', 'file.path': helperPath });
      // The SEA runtime repeats the executable in argv[1]; what follows are our own arguments.
      execve(helperPath, [process.execPath, ...process.argv.slice(2)], {
        ...process.env,
        [RUNTIME_ENV]: process.execPath,
      });
    } catch (error) {
      // EACCES/EROFS (read-only or noexec volume), ENOSPC: try the next place.
      failures.push(`${helperPath}: ${(error as Error).message}`);
    }
  }
  log.warn(
    'running as PID 1 without the helper: it could not be written or run; orphaned processes will not be reaped',
    {
      'event.action': 'pid1-helper-unavailable',
      'error.message': failures.join('; '),
    },
  );
}

/**
 * Tells the helper that the manager's signal listeners are in place: until
 * then it holds every signal, so that a SIGTERM sent while the runtime starts
 * is delivered late rather than lost. Once, then the descriptor is closed,
 * before any process is started that could inherit it.
 */
export function tellHelperReady(log: Logger): void {
  const text = process.env[READY_FD_ENV];
  if (text === undefined) return;
  delete process.env[READY_FD_ENV];
  const fd = Number(text);
  try {
    if (!Number.isInteger(fd) || fd < 3) throw new Error(`${READY_FD_ENV}=${text} is not a descriptor`);
    fs.writeSync(fd, 'r');
    fs.closeSync(fd);
  } catch (error) {
    // EBADF: not started by the helper after all. The helper then waits for
    // the manager's exit instead, and passes no signal on until then.
    log.warn(`cannot tell the PID-1 helper that signals may come: ${(error as Error).message}`, {
      'event.action': 'pid1-helper',
    });
  }
}

/**
 * Atomic, and skipped when an identical copy is already there (a container
 * restart on the same emptyDir). What is there is read bounded: a FIFO or a
 * /dev/zero planted under the helper's name must not hang or fill PID 1.
 */
async function writeHelper(helperPath: string, binary: Uint8Array): Promise<void> {
  const existing = await readBoundedFile(helperPath, { maxBytes: binary.length }).catch(() => undefined);
  if (existing && Buffer.compare(existing, binary) === 0) {
    await fs.promises.access(helperPath, fsConstants.X_OK);
    return;
  }
  await writeFileAtomic(helperPath, binary, { mode: 0o755, directoryMode: 0o755 });
}

/** True in the manager the helper started. */
export function isUnderHelper(): boolean {
  return process.env[UNDER_HELPER_ENV] === '1';
}

/** For the start-up line: who reaps orphans in this container. */
export function pid1Mode(): 'helper' | 'pid1-without-helper' | 'not-pid1' {
  if (isUnderHelper()) return 'helper';
  return process.pid === 1 ? 'pid1-without-helper' : 'not-pid1';
}
