// What the main process leaves behind in its process group after it exits
// (the ML controller, a forked shell) is killed before the run counts as over.

import type { Logger } from '../log/logger.ts';
import type { SupervisorSystem } from './system.ts';

/** Leftovers that survive SIGKILL this long are in uninterruptible sleep; report and move on. */
const LEFTOVER_DEADLINE_MS = 10_000;
const GROUP_POLL_MS = 10;

/** Kills what the main process left in its group and waits until none of it runs. */
export async function clearGroup(system: SupervisorSystem, log: Logger, pgid: number): Promise<void> {
  const { clock } = system;
  const deadline = clock.monotonicMs() + LEFTOVER_DEADLINE_MS;
  for (let attempt = 0; system.livingGroupMembers(pgid).length > 0; attempt++) {
    if (attempt % 100 === 0)
      system.signal({ kind: 'group', pid: pgid }, 'SIGKILL', 'left in the group after the main process exited', log);
    if (clock.monotonicMs() > deadline) {
      log.error(`processes of group ${pgid} survive SIGKILL: ${system.livingGroupMembers(pgid).join(' ')}`, {
        'event.action': 'stop',
      });
      return;
    }
    await clock.sleep(GROUP_POLL_MS);
  }
}
