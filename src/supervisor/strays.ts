// Processes the supervised process started that left its process group
// (setsid) and so survive a stop: noted once the process has ended, shown in
// the status and /health, and ended before the next start, since one holding
// the data directory's lock would make that start fail.

import type { Logger } from '../log/logger.ts';
import type { SupervisorSystem } from './system.ts';

/** How long a stray that got SIGKILL may take to go (uninterruptible sleep) before the start goes on without waiting. */
const KILL_DEADLINE_MS = 10_000;
const POLL_MS = 10;

export type Strays = ReturnType<typeof createStrays>;

export function createStrays(system: SupervisorSystem, log: Logger, name: string) {
  const { clock } = system;
  let noted: number[] = [];

  /** Waits until none of pids runs, or the deadline passes; returns those still running. */
  const waitGone = async (pids: readonly number[], withinMs: number): Promise<number[]> => {
    const deadline = clock.monotonicMs() + withinMs;
    for (;;) {
      const left = system.findStrays(pids);
      if (left.length === 0 || clock.monotonicMs() >= deadline) return left;
      await clock.sleep(POLL_MS);
    }
  };

  const signalEach = (pids: readonly number[], signal: NodeJS.Signals, reason: string): void => {
    for (const pid of pids) {
      try {
        system.signal({ kind: 'process', pid }, signal, reason, log);
      } catch (error) {
        log.error(`cannot send ${signal} to ${pid}: ${(error as Error).message}`, {
          'event.action': 'strays',
          'process.pid': pid,
        });
      }
    }
  };

  return {
    /** After the process and its group are gone: whatever still carries its marker left the group. */
    noteAfterEnd(): void {
      noted = system.findStrays();
      if (noted.length === 0) return;
      log.warn(
        `${noted.length} processes started by ${name} left its process group and outlive it (pids ${noted.join(' ')}); they are ended before the next start`,
        {
          'event.action': 'strays',
          'process.pids': noted.join(' '),
        },
      );
    },

    /** Those noted that still run. */
    current(): number[] {
      if (noted.length === 0) return [];
      noted = system.findStrays(noted);
      return noted;
    },

    /** Before a start: SIGTERM to every one (a stop never reached them), SIGKILL to those left after graceMs. */
    async endAll(graceMs: number): Promise<void> {
      const found = system.findStrays();
      noted = [];
      if (found.length === 0) return;
      const reason = `left ${name}'s process group; ending it before the start`;
      log.warn(
        `${found.length} processes started by an earlier run of ${name} outside its process group still run (pids ${found.join(' ')}): ending them before the start`,
        {
          'event.action': 'strays',
          'process.pids': found.join(' '),
        },
      );
      signalEach(found, 'SIGTERM', reason);
      signalEach(found, 'SIGCONT', reason);
      const stubborn = await waitGone(found, graceMs);
      if (stubborn.length === 0) return;
      signalEach(stubborn, 'SIGKILL', `still running ${graceMs} ms after SIGTERM`);
      const survivors = await waitGone(stubborn, KILL_DEADLINE_MS);
      if (survivors.length > 0)
        log.error(`processes outside ${name}'s group survive SIGKILL: ${survivors.join(' ')}; starting anyway`, {
          'event.action': 'strays',
        });
    },
  };
}
