// `process-manager install DIR`: what the init container runs to put
// process-manager on the shared emptyDir. DIR/process-manager, the Pod's
// command, is the compiled PID-1 helper; it starts the runtime (this very
// executable) laid down beside it, so that PID 1 blocks signals from the
// container's first instruction on (src/pid1/helper.c).

import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic-write.ts';
import { configError } from '../config/errors.ts';
import type { Owner } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { loadHelperBinary } from '../pid1/helper-binary.ts';

const ENTRY_POINT = 'process-manager';
/** helper.c looks for this name beside itself. */
const RUNTIME = '.process-manager-runtime';
const MODES = { mode: 0o755, directoryMode: 0o755 };

/**
 * Writes the runtime, then the entry point; returns the entry point's path. Run as root (an init container's default),
 * it then gives DIR to `owner`: the manager, running as the Elasticsearch image's user, makes its state file and its
 * socket there, and a root-owned emptyDir would refuse them (EACCES).
 */
export async function installExecutable(
  dir: string,
  owner: Owner | null,
  log: Logger,
  executablePath: string = process.execPath,
): Promise<string> {
  const target = path.resolve(dir);
  // DIR is the shared volume's mount point. Were it missing, creating it would put the executable in the init
  // container's own filesystem, gone with it, and the Pod would fail later with a far less telling error.
  const found = await fs.promises.stat(target).catch(() => undefined);
  if (!found?.isDirectory()) {
    throw configError(
      `install ${dir}: ${found ? 'not a directory' : 'no such directory'}; give the mount point of the volume shared with the Elasticsearch container (an emptyDir)`,
    );
  }
  try {
    const helper = await loadHelperBinary();
    if (!helper) throw new Error('only the built executable carries the PID-1 helper');
    // Each file appears whole or not at all; the runtime first, so an entry
    // point never finds a torn runtime beside it (a container starting while
    // the init container was still copying, or after it died halfway).
    await writeFileAtomic(path.join(target, RUNTIME), fs.createReadStream(executablePath), MODES);
    await writeFileAtomic(path.join(target, ENTRY_POINT), helper, MODES);
    await handOver(target, owner, log);
  } catch (error) {
    throw configError(`install ${dir}: ${(error as Error).message}`);
  }
  return path.join(target, ENTRY_POINT);
}

/** Only root can give a directory away; anyone else leaves it as the volume made it (Kubernetes: 0777). */
async function handOver(dir: string, owner: Owner | null, log: Logger): Promise<void> {
  if (!owner) return;
  if (process.geteuid?.() !== 0) {
    log.info(`${dir} keeps its owner: install is not running as root (--owner ${owner.uid}:${owner.gid} needs root)`, {
      'event.action': 'install',
    });
    return;
  }
  await fs.promises.chown(dir, owner.uid, owner.gid);
  // The owner writes the state file and the socket there, and so may group 0: the official image runs ES in group 0,
  // and OpenShift runs it as an arbitrary uid in that group. Others only read and run the two files.
  await fs.promises.chmod(dir, 0o775);
}
