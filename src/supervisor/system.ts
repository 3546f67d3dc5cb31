// Every side effect the supervisor has: spawning, signalling, probing the
// process group, the state file, and time. The real implementations are
// wired here and nowhere else; tests hand the supervisor fakes instead, as
// supervisord's tests do with DummyOptions, and drive every transition in
// milliseconds.

import path from 'node:path';
import { type Clock, systemClock } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';
import { findMarkedProcesses, markerValue } from './marked-processes.ts';
import { sweepTemporaries } from '../files/atomic-write.ts';
import { livingGroupMembers } from './process-group.ts';
import { sendSignal, type Target } from './signal-process.ts';
import { spawnProcess, type SpawnResult } from './spawn-process.ts';
import {
  keepStateFileAside,
  readStateFile,
  writeStateFile,
  type PersistedState,
  type ReadResult,
} from './state-file.ts';

export interface StateStore {
  /** Reads only. */
  read(): ReadResult;
  /** Moves an unusable file aside; where it went, or null. */
  keepAside(): string | null;
  /** Removes the temporary files interrupted writes left; their names. */
  sweep(): string[];
  /** Rejects when the file cannot be written; the supervisor's writer logs it and tries again. */
  write(state: PersistedState): Promise<void>;
}

export interface SupervisorSystem {
  spawn(cmd: string, args: readonly string[]): Promise<SpawnResult>;
  /** False when nothing was there to signal (ESRCH). */
  signal(target: Target, signal: NodeJS.Signals, reason: string, log: Logger): boolean;
  /** Pids of the group's members that still run (zombies excluded). */
  livingGroupMembers(pgid: number): number[];
  /** Running processes that carry the marker of the processes this manager spawns, wherever their group (among `among`, else all). */
  findStrays(among?: readonly number[]): number[];
  readonly stateStore: StateStore;
  readonly clock: Clock;
}

export function nodeSystem(stateFile: string): SupervisorSystem {
  // By state file: a manager restarted with the same one finds what an earlier run left.
  const resolved = path.resolve(stateFile);
  return {
    spawn: (cmd, args) => spawnProcess(cmd, args, markerValue(resolved)),
    signal: sendSignal,
    livingGroupMembers,
    findStrays: (among) => findMarkedProcesses(resolved, among),
    stateStore: {
      read: () => readStateFile(stateFile),
      keepAside: () => keepStateFileAside(stateFile),
      sweep: () => sweepTemporaries(stateFile),
      write: (state) => writeStateFile(stateFile, state),
    },
    clock: systemClock,
  };
}
