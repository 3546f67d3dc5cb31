// PID 1 is handed to the compiled helper (helper.c) because Node cannot reap
// processes it did not spawn: libuv only waits for its own children, and a
// waitpid(-1) inside this process would steal the supervised process's exit
// status from libuv. The helper forks this executable again as its child.

import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../log/logger.ts';
import { loadHelperBinary } from './helper-binary.ts';
import { withManagerMallocTuning } from './malloc-tuning.ts';

/** Set in the environment of the manager the helper starts; scrubbed from the supervised process with every PM_ variable. */
export const UNDER_HELPER_ENV = 'PM_UNDER_HELPER';
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
    if (process.env[UNDER_HELPER_ENV] === '1') log.debug('running under the PID-1 helper', { 'event.action': 'pid1-helper', 'process.parent.pid': process.ppid });
    return;
  }
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve !== 'function') {
    log.warn('running as PID 1 without the helper: this runtime has no process.execve; orphaned processes will not be reaped', { 'event.action': 'pid1-helper-unavailable' });
    return;
  }
  const binary = await loadHelperBinary();
  if (!binary) {
    log.warn('running as PID 1 without the helper: it is only carried by the built executable; orphaned processes will not be reaped', { 'event.action': 'pid1-helper-unavailable' });
    return;
  }
  const failures: string[] = [];
  for (const dir of [path.dirname(process.execPath), os.tmpdir()]) {
    const helperPath = path.join(dir, HELPER_FILE_NAME);
    try {
      await writeHelper(helperPath, binary);
      log.debug('handing PID 1 to the helper', { 'event.action': 'pid1-handoff', 'file.path': helperPath });
      // The SEA runtime repeats the executable in argv[1]; what follows are our own arguments.
      execve(helperPath, [helperPath, process.execPath, ...process.argv.slice(2)], { ...withManagerMallocTuning(process.env), [UNDER_HELPER_ENV]: '1' });
    } catch (error) {
      // EACCES/EROFS (read-only or noexec volume), ENOSPC: try the next place.
      failures.push(`${helperPath}: ${(error as Error).message}`);
    }
  }
  log.warn('running as PID 1 without the helper: it could not be written or run; orphaned processes will not be reaped', {
    'event.action': 'pid1-helper-unavailable',
    'error.message': failures.join('; '),
  });
}

/** Atomic, and skipped when an identical copy is already there (a container restart on the same emptyDir). */
async function writeHelper(helperPath: string, binary: Uint8Array): Promise<void> {
  const existing = await fs.readFile(helperPath).catch(() => undefined);
  if (existing && Buffer.compare(existing, binary) === 0) {
    await fs.access(helperPath, fsConstants.X_OK);
    return;
  }
  const temporary = `${helperPath}.${process.pid}.tmp`;
  try {
    await fs.writeFile(temporary, binary, { mode: 0o755 });
    await fs.chmod(temporary, 0o755);
    await fs.rename(temporary, helperPath);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}
