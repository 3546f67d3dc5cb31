// `process-manager install DIR`: what the init container runs to put the
// executable on the shared emptyDir.

import fs from 'node:fs/promises';
import path from 'node:path';
import { configError } from '../config/errors.ts';

/** Copies the running executable into dir (created if needed) with mode 0755; returns the new path. */
export async function installExecutable(dir: string, executablePath: string = process.execPath): Promise<string> {
  const target = path.join(path.resolve(dir), path.basename(executablePath));
  const temporary = `${target}.${process.pid}.tmp`;
  try {
    await fs.mkdir(path.dirname(target), { recursive: true });
    // Copy then rename, so a container that starts while the init container
    // is still copying (or after it died halfway) never runs a torn file.
    await fs.copyFile(executablePath, temporary);
    await fs.chmod(temporary, 0o755);
    await fs.rename(temporary, target);
  } catch (error) {
    await fs.rm(temporary, { force: true }).catch(() => {});
    throw configError(`install ${dir}: ${(error as Error).message}`);
  }
  return target;
}
