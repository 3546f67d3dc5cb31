// Starting the manager on the ES-like fake process tree and reading its pids.

import fs from 'node:fs';
import path from 'node:path';
import { FAKE_ES, startManager, tempDir, waitFor, type RunningManager } from './manager.ts';

export interface FakeEsRun {
  readonly manager: RunningManager;
  readonly dir: string;
  readonly stateFile: string;
  readonly pidsFile: string;
  /** launcher, server, controller of the current fake ES, once all three run. */
  pids(previous?: readonly number[]): Promise<number[]>;
}

export async function startOnFakeEs(
  options: { args?: string[]; env?: Record<string, string>; dir?: string } = {},
): Promise<FakeEsRun> {
  const dir = options.dir ?? tempDir();
  const stateFile = path.join(dir, 'state.json');
  const pidsFile = path.join(dir, 'pids');
  const manager = await startManager({
    args: ['--cmd', FAKE_ES, '--state-file', stateFile, ...(options.args ?? [])],
    env: { FAKE_ES_PIDS_FILE: pidsFile, ...options.env },
  });
  const pids = (previous?: readonly number[]) =>
    waitFor(() => {
      if (!fs.existsSync(pidsFile)) return undefined;
      const found = fs.readFileSync(pidsFile, 'utf8').trim().split(' ').map(Number);
      return previous && found[0] === previous[0] ? undefined : found;
    }, 'the fake ES to write its pids');
  return { manager, dir, stateFile, pidsFile, pids };
}
