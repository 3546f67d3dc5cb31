// A command on a fresh pseudo-terminal made by util-linux's `script`, for the
// cases where a terminal matters (Ctrl-C, job control, reading the terminal).
//
// The command's status is written down by the bash that runs it, not taken
// from `script -e`: util-linux 2.38's script returns 1 instead of the status
// when its last read of the terminal fails as the command's side closes it
// (term-utils/script.c: `rc = rc ? EXIT_FAILURE : ...`), a race one CI run lost.
// bash and not dash: where an init leaves the terminal's foreground group to
// the command's parent, the Ctrl-C reaches that shell too; bash then waits for
// the command and goes on unless the command itself died of SIGINT, where dash
// would die at once and take the status with it.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './manager.ts';
import { childrenOf, descendants } from './procfs.ts';

export interface TerminalRun {
  /** The command's status (128+n after a death by signal n); null if it recorded none (killed with its shell). */
  readonly exited: Promise<number | null>;
  /** Everything the terminal has shown so far. */
  output(): string;
  /** Types keys on the terminal. */
  type(keys: string): void;
  /** The first child of the first `unshare` on the terminal: PID 1 of its namespace, as the host sees it. */
  pid1(): number | undefined;
  /** SIGKILL to the whole terminal session: for the end of a case, whatever it left. */
  kill(): void;
}

const sessions = new Set<number>();
process.on('exit', () => sessions.forEach(killSession));

const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;

export function onTerminal(argv: readonly string[]): TerminalRun {
  const statusFile = path.join(tempDir(), 'status');
  const command = `${argv.map(quote).join(' ')}; echo $? > ${quote(statusFile)}`;
  // -q: no banner; -f: output passed on at once. SHELL: what script runs the command with.
  const script = spawn('script', ['-qfc', command, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
    detached: true,
    env: { ...process.env, SHELL: '/bin/bash' },
  });
  sessions.add(script.pid!);
  let output = '';
  script.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) =>
    script.once('exit', () => {
      sessions.delete(script.pid!);
      const recorded = fs.existsSync(statusFile) ? fs.readFileSync(statusFile, 'utf8').trim() : '';
      resolve(recorded === '' ? null : Number(recorded));
    }),
  );
  return {
    exited,
    output: () => output,
    type: (keys) => script.stdin!.write(keys),
    pid1: () => {
      const unshare = descendants(script.pid!).find((p) => p.comm === 'unshare');
      return unshare && childrenOf(unshare.pid)[0];
    },
    kill: () => killSession(script.pid!),
  };
}

/** script, and what runs on its terminal: that is a session of its own, out of reach of script's group. */
function killSession(pid: number): void {
  for (const target of [-pid, ...descendants(pid).map((p) => p.pid)]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
