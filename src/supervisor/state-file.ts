// The persisted intent and last state, on the emptyDir next to the
// executable, so a container restart knows whether the operator had stopped
// Elasticsearch. Written atomically and validated when read: the original
// wrote a bare string in place, and a crash mid-write wedged it. Whatever is
// found at the path (a device, a FIFO, a huge or deeply nested file) is read
// within bounds or refused, kept aside, and treated as absent.

import fs from 'node:fs';
import { writeFileAtomic } from '../files/atomic-write.ts';
import { describeReadError, KiB, readBoundedFileSync, RefusedFileError } from '../files/bounded-read.ts';
import { parseShallowJson } from '../files/parse-json.ts';
import { STATES, type Desired, type State } from './states.ts';
import { errnoCode } from '../files/errno.ts';

export interface LastExit {
  readonly code: number | null;
  readonly signal: string | null;
  readonly at: string;
}

export interface PersistedState {
  readonly version: 1;
  readonly name: string;
  readonly desired: Desired;
  readonly state: State;
  readonly lastExit: LastExit | null;
  readonly restarts: number;
  readonly updatedAt: string;
}

export type ReadResult =
  | { readonly kind: 'absent' }
  | { readonly kind: 'valid'; readonly state: PersistedState }
  /** Unreadable or invalid; keepStateFileAside moves it out of the way once the manager is sure to run. */
  | { readonly kind: 'corrupt'; readonly reason: string };

/** A valid state file is about 250 bytes. */
const MAX_STATE_FILE_BYTES = 64 * KiB;
/** The object, and lastExit inside it. */
const MAX_STATE_FILE_DEPTH = 2;
const STATE_FILE_MODE = 0o644;

/** Reads only: a manager that turns out unable to run (its port taken) must leave the file as it found it. */
export function readStateFile(file: string): ReadResult {
  let text: string;
  try {
    text = readBoundedFileSync(file, { maxBytes: MAX_STATE_FILE_BYTES }).toString('utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { kind: 'absent' };
    return {
      kind: 'corrupt',
      reason: error instanceof RefusedFileError ? `refused: ${error.message}` : describeReadError(error),
    };
  }
  try {
    return { kind: 'valid', state: validate(parseShallowJson(text, MAX_STATE_FILE_DEPTH)) };
  } catch (error) {
    return { kind: 'corrupt', reason: (error as Error).message };
  }
}

/** Asynchronous on purpose: the fsyncs run on libuv's threads, and a slow disk never stalls the API. */
export function writeStateFile(file: string, state: PersistedState): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(state) + '\n', { mode: STATE_FILE_MODE });
}

/** Moves a corrupt state file out of the way before the first write replaces it; where it went, or null if it could not be moved. */
export function keepStateFileAside(file: string): string | null {
  const keptAs = `${file}.corrupt-${new Date().toISOString().replaceAll(':', '')}`;
  try {
    fs.renameSync(file, keptAs);
    return keptAs;
  } catch {
    return null;
  }
}

function validate(value: unknown): PersistedState {
  const record = value as Record<string, unknown>;
  const fail = (what: string): never => {
    throw new Error(`invalid state file: ${what}`);
  };
  if (typeof record !== 'object' || record === null || Array.isArray(record)) fail('not a JSON object');
  if (record.version !== 1) fail(`unknown version ${JSON.stringify(record.version)}`);
  if (typeof record.name !== 'string') fail('name is not a string');
  if (record.desired !== 'started' && record.desired !== 'stopped')
    fail(`desired is ${JSON.stringify(record.desired)}`);
  if (!STATES.includes(record.state as State)) fail(`state is ${JSON.stringify(record.state)}`);
  if (!Number.isInteger(record.restarts) || (record.restarts as number) < 0) fail('restarts is not a count');
  if (typeof record.updatedAt !== 'string') fail('updatedAt is not a string');
  const lastExit = record.lastExit as Record<string, unknown> | null;
  if (lastExit !== null) {
    if (typeof lastExit !== 'object') fail('lastExit is not an object');
    if (lastExit.code !== null && !Number.isInteger(lastExit.code)) fail('lastExit.code is not an integer');
    if (lastExit.signal !== null && typeof lastExit.signal !== 'string') fail('lastExit.signal is not a string');
    if (typeof lastExit.at !== 'string') fail('lastExit.at is not a string');
  }
  return record as unknown as PersistedState;
}
