import { KEYSTORE_VARIABLE_SPELLINGS } from '../config/keystore-env.ts';

const MANAGER_ONLY = new Set(KEYSTORE_VARIABLE_SPELLINGS);

/**
 * The supervised process's environment: ours without the manager's own
 * configuration, so passwords meant for the reload call never reach
 * Elasticsearch's environment (and its /proc/PID/environ).
 */
export function childEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('PM_') || MANAGER_ONLY.has(name)) continue;
    result[name] = value;
  }
  return result;
}
