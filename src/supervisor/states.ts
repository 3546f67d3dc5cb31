// The supervised process's states and every allowed move between them.
// Deliberately imports nothing: this file is the state machine's reference.

export const STATES = [
  'notStarted',
  'starting',
  'started',
  'stopping',
  'stopped',
  'killing',
  'killed',
  'exited',
  'failed',
] as const;
export type State = (typeof STATES)[number];

/** What the operator last asked for; persisted so it survives a container restart. */
export type Desired = 'started' | 'stopped';

/** States from which a start is allowed. */
export const STARTABLE_STATES: readonly State[] = ['notStarted', 'stopped', 'killed', 'exited', 'failed'];

export type Event =
  | 'start' // the manager spawns the process
  | 'spawned' // the kernel gave it a pid
  | 'spawnFailed' // exec failed: no such file, not executable
  | 'stop' // SIGTERM sent (API stop, restart, shutdown)
  | 'kill' // SIGKILL sent to the group
  | 'exitedUnasked' // it died while nobody asked it to
  | 'groupGone'; // nothing of its group is left after a stop or kill

/** TRANSITIONS[from][event] = to; a missing cell is a bug, reported by the supervisor. */
export const TRANSITIONS: Readonly<Record<State, Partial<Record<Event, State>>>> = {
  notStarted: { start: 'starting' },
  starting: { spawned: 'started', spawnFailed: 'failed' },
  started: { stop: 'stopping', kill: 'killing', exitedUnasked: 'exited' },
  // stopping -> killing: an API kill escalates a stop that is taking too long.
  stopping: { kill: 'killing', groupGone: 'stopped' },
  stopped: { start: 'starting' },
  killing: { groupGone: 'killed' },
  killed: { start: 'starting' },
  exited: { start: 'starting' },
  failed: { start: 'starting' },
};

/** What a transitional state found in the state file at boot became: its end state. */
export const END_STATE_AT_BOOT: Readonly<Partial<Record<State, State>>> = {
  starting: 'exited',
  started: 'exited',
  stopping: 'stopped',
  killing: 'killed',
};
