// What outlives a run (the operator's intent, the last exit, the restart
// count) and its way to the state file: read at boot, written from the
// takeover on, off the event loop.

import path from 'node:path';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { resolveRestored } from './restore-state.ts';
import type { LastExit } from './state-file.ts';
import type { Desired, State } from './states.ts';
import { createStateWriter, type StateWriter } from './state-writer.ts';
import type { SupervisorSystem } from './system.ts';

export interface History {
  desired: Desired;
  lastExit: LastExit | null;
  restarts: number;
  /** A start after this one counts as a restart; a restored state file counts as a start. */
  everStarted: boolean;
  /** When the last run began; kept after it ends. */
  startedAt: string | null;
  /** Monotonic time of the last exit nobody asked for. */
  lastUnexpectedExitAt: number | null;
}

export interface Persistence {
  readonly history: History;
  readonly writer: StateWriter;
  /** Never waits: the writer puts it on disk off the event loop, and keeps trying while it cannot. */
  save(): void;
  setDesired(value: Desired): void;
  /** Reads only; the state the file resolved to, or null when it has none to give. */
  restore(): State | null;
  /** The lock is held: leftovers are swept, an unusable file moved aside, and the state written from now on. */
  takeOver(): void;
}

export interface PersistenceDeps {
  readonly config: Pick<Config, 'name' | 'stateFile'>;
  readonly system: SupervisorSystem;
  readonly log: Logger;
  readonly current: () => { readonly state: State; readonly since: string };
}

export function createPersistence({ config, system, log, current }: PersistenceDeps): Persistence {
  const { clock } = system;
  const history: History = {
    desired: 'started',
    lastExit: null,
    restarts: 0,
    everStarted: false,
    startedAt: null,
    lastUnexpectedExitAt: null,
  };
  /** Nothing is written before takeOver: a manager that cannot run must leave the file as it was. */
  const writer = createStateWriter((persisted) => system.stateStore.write(persisted), {
    clock,
    log,
    file: config.stateFile,
  });
  /** Why the state file read at boot was unusable; it is moved aside at the takeover. */
  let corruptStateFile: string | null = null;
  let isRestored = false;

  const save = (): void => {
    const { desired, lastExit, restarts } = history;
    const { state, since } = current();
    writer.save({ version: 1, name: config.name, desired, state, lastExit, restarts, updatedAt: since });
  };

  return {
    history,
    writer,
    save,
    setDesired(value) {
      if (history.desired === value) return;
      history.desired = value;
      save();
    },
    restore() {
      const read = system.stateStore.read();
      if (read.kind === 'corrupt') corruptStateFile = read.reason;
      if (read.kind !== 'valid') return null;
      const restored = resolveRestored(read.state, clock.now(), config.name, log);
      isRestored = true;
      Object.assign(history, {
        everStarted: true,
        desired: restored.desired,
        lastExit: restored.lastExit,
        restarts: restored.restarts,
      });
      if (restored.unexpectedExitAgoMs !== null)
        history.lastUnexpectedExitAt = clock.monotonicMs() - restored.unexpectedExitAgoMs;
      return restored.state;
    },
    takeOver() {
      // Ours alone now (the lock is held): what a SIGKILL mid-write left behind would otherwise pile up.
      const swept = system.stateStore.sweep();
      if (swept.length > 0)
        log.info(`removed ${swept.length} temporary files left by interrupted state-file writes: ${swept.join(' ')}`, {
          'event.action': 'state-file',
          'file.directory': path.dirname(config.stateFile),
        });
      if (corruptStateFile !== null) {
        const keptAs = system.stateStore.keepAside();
        log.warn(`ignoring the state file: ${corruptStateFile}${keptAs ? '; kept as ' + keptAs : ''}`, {
          'event.action': 'state-file',
          'file.path': keptAs ?? config.stateFile,
        });
      }
      writer.open();
      // The state resolved from the file is written back; with no file, the first transition writes one.
      if (isRestored) save();
    },
  };
}
