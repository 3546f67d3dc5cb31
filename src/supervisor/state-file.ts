// The persisted intent and last state, on the emptyDir next to the
// executable, so a container restart knows whether the operator had stopped
// Elasticsearch. Written atomically (temp file + rename) and validated when
// read: the original wrote a bare string in place, and a crash mid-write
// wedged it.

import fs from 'node:fs';
import path from 'node:path';
import { STATES, type Desired, type State } from './states.ts';

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
  /** Unreadable or invalid; the file was moved to keptAs so nobody loses it. */
  | { readonly kind: 'corrupt'; readonly reason: string; readonly keptAs: string | null };

export function readStateFile(file: string): ReadResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return keepAside(file, (error as Error).message);
  }
  try {
    return { kind: 'valid', state: validate(JSON.parse(text)) };
  } catch (error) {
    return keepAside(file, (error as Error).message);
  }
}

export function writeStateFile(file: string, state: PersistedState): void {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(temporary, 'w', 0o644);
  try {
    fs.writeSync(fd, JSON.stringify(state) + '\n');
    // Durable before the rename, or a power cut could leave an empty file behind the new name.
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
}

function keepAside(file: string, reason: string): ReadResult {
  const keptAs = `${file}.corrupt-${new Date().toISOString().replaceAll(':', '')}`;
  try {
    fs.renameSync(file, keptAs);
    return { kind: 'corrupt', reason, keptAs };
  } catch {
    return { kind: 'corrupt', reason, keptAs: null };
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
  if (record.desired !== 'started' && record.desired !== 'stopped') fail(`desired is ${JSON.stringify(record.desired)}`);
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
