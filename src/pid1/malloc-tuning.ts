// The manager's own allocator settings: the PID-1 helper (helper.c) starts
// the runtime with GLIBC_TUNABLES=glibc.malloc.arena_max=1:
// glibc.malloc.trim_threshold=65536 (one malloc arena instead of one per
// thread, freed memory returned to the system sooner: about 1 MiB less
// private memory, issue 8, test/bench), since glibc reads them once, at
// startup. An operator's own GLIBC_TUNABLES are left alone, and the processes
// the manager starts get the environment without ours (child-env.ts).

const TUNABLES = 'GLIBC_TUNABLES';
/** Set by the helper beside GLIBC_TUNABLES when it is ours, not the pod's; a PM_ variable, so never passed on. */
export const MALLOC_TUNING_MARKER = 'PM_MANAGER_TUNABLES';

/** Drops GLIBC_TUNABLES from `env` (in place) when the manager set it for itself. */
export function dropManagerMallocTuning(env: NodeJS.ProcessEnv, original: NodeJS.ProcessEnv): void {
  if (original[MALLOC_TUNING_MARKER] === '1') delete env[TUNABLES];
}
