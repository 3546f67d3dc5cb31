// The manager as a container runs it: `process-manager install DIR` once, then
// DIR/process-manager (the PID-1 helper) as PID 1 of a fresh PID namespace.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EXECUTABLE, ROOT, startManager, tempDir, waitFor, type RunningManager, type StartOptions } from './manager.ts';
import { childrenOf } from './procfs.ts';

// --kill-child: should a test die, its namespace goes with it.
export const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL'];
export const PID1_FIXTURES = path.join(ROOT, 'test/fixtures/pid1');
/** The helper as build.mjs leaves it beside the executable. */
export const HELPER = path.join(path.dirname(EXECUTABLE), 'pm-helper');

let installed: string | undefined;

/** DIR/process-manager of one `install DIR` per test process. */
export function installedEntryPoint(): string {
  if (installed) return installed;
  const dir = tempDir('pm-installed-');
  const result = spawnSync(EXECUTABLE, ['install', dir], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0)
    throw new Error(`install ${dir} failed (${result.status}): ${result.stderr}${result.stdout}`);
  installed = path.join(dir, 'process-manager');
  return installed;
}

export interface Pid1Run {
  readonly manager: RunningManager;
  /** PID 1 of the namespace, as the host sees it. */
  readonly pid1: number;
}

/** The installed entry point (or `executable`) as PID 1, supervising cmd; the teardown's SIGTERM goes to PID 1, as a container runtime's does. */
export async function startAsPid1(
  cmd: string,
  args: readonly string[] = [],
  options: { extra?: readonly string[]; env?: Record<string, string>; executable?: string } & Pick<
    StartOptions,
    'waitForApi'
  > = {},
): Promise<Pid1Run> {
  const dir = tempDir();
  const manager = await startManager({
    wrapper: UNSHARE,
    executable: options.executable ?? installedEntryPoint(),
    env: options.env,
    waitForApi: options.waitForApi,
    args: ['--cmd', cmd, '--state-file', path.join(dir, 'state.json'), ...(options.extra ?? []), '--', ...args],
  });
  const pid1 = await waitFor(() => childrenOf(manager.child.pid!)[0], 'unshare to fork PID 1');
  // unshare does not forward signals; the container runtime's SIGTERM goes to PID 1.
  manager.terminate = () => process.kill(pid1, 'SIGTERM');
  return { manager, pid1 };
}

/** The manager: PID 1's only child. */
export function managerUnder(pid1: number): number {
  const children = childrenOf(pid1);
  if (children.length !== 1) throw new Error(`PID 1 has ${children.length} children`);
  return children[0];
}

/** Lines appended to a fixture's record file so far. */
export function recorded(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
