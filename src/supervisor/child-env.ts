import { KEYSTORE_VARIABLE_SPELLINGS } from '../config/keystore-env.ts';
import { dropManagerMallocTuning } from '../pid1/malloc-tuning.ts';
import { SUPERVISED_MARKER } from './marked-processes.ts';

const MANAGER_ONLY = new Set(KEYSTORE_VARIABLE_SPELLINGS);
/** Set by build.mjs's banner when it chose UV_THREADPOOL_SIZE for the manager (the pod did not). */
export const THREADPOOL_MARKER = 'PM_MANAGER_THREADPOOL';

/**
 * The environment of the processes the manager starts (Elasticsearch, the
 * keystore CLI): ours without the manager's own configuration, so passwords
 * meant for the reload call never reach their /proc/PID/environ, and without
 * the allocator and thread-pool settings the manager chose for itself.
 */
export function childEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    // A marker in our own environment (a manager started by a supervised process) is not our children's.
    if (name.startsWith('PM_') || MANAGER_ONLY.has(name) || name === SUPERVISED_MARKER) continue;
    result[name] = value;
  }
  dropManagerMallocTuning(result, env);
  if (env[THREADPOOL_MARKER] === '1') delete result.UV_THREADPOOL_SIZE;
  return result;
}
