// The steps both procedures are made of. Each is idempotent (stopping a
// stopped node, starting a started one, deleting a missing record are no-ops),
// so a rerun may repeat any of them. Waits poll facts until --timeout; while
// they poll, an error from ES (no master yet while nodes boot) is a reason to
// look again, not to give up.

import { monotonicMs } from '../clock/clock.ts';
import type { EsClient, Health } from './es-client.ts';
import { isDown, ManagerError, type ManagerClient, type ProcessStatus } from './manager-client.ts';
import type { RestartOptions } from './options.ts';
import type { Plan, PlannedNode } from './plan.ts';
import type { Progress } from './progress.ts';

export interface Run {
  readonly es: EsClient;
  readonly options: RestartOptions;
  readonly plan: Plan;
  readonly progress: Progress;
  readonly managers: ReadonlyMap<string, ManagerClient>;
  /** node name → when its stop began (ms of the run), and how long it was down once back */
  readonly downAt: Map<string, number>;
  readonly downFor: Map<string, number>;
}

const POLL_MS = 250;

/** Polls check until it gives a value, or fails naming what it waited for and the last thing it saw. */
export async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = monotonicMs() + timeoutMs;
  let lastSeen = '';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof FatalWait) throw error;
      lastSeen = `; last error: ${(error as Error).message}`;
    }
    if (monotonicMs() >= deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s${lastSeen}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Ends a wait at once: waiting longer cannot help. */
export class FatalWait extends Error {}

export function managerOf(run: Run, node: PlannedNode): ManagerClient {
  return run.managers.get(node.name)!;
}

export async function stopNode(run: Run, node: PlannedNode): Promise<ProcessStatus> {
  if (!run.downAt.has(node.name)) run.downAt.set(node.name, run.progress.elapsedMs());
  const status = await managerOf(run, node).stop(run.options.timeoutMs);
  if (!isDown(status)) throw new Error(`the manager answered the stop with state ${status.state}`);
  return status;
}

/** With --config, only once the manager reports that configuration: the Secret volume may not have caught up yet. */
export async function startNode(run: Run, node: PlannedNode): Promise<ProcessStatus> {
  const manager = managerOf(run, node);
  const sha = run.options.config;
  if (!sha) return manager.start();
  return waitUntil(
    `its manager to report configuration ${sha.slice(0, 12)}…`,
    run.options.configTimeoutMs,
    async () => {
      const status = await manager.status();
      if (!status.config)
        throw new FatalWait(
          'its manager does not report a configuration checksum (no --config-path, or a manager too old for --config)',
        );
      if (status.config?.sha256 !== sha) return undefined;
      try {
        return await manager.start(sha);
      } catch (error) {
        // It changed again between the status and the start: look again.
        if (error instanceof ManagerError && error.type === 'config_mismatch_exception') return undefined;
        throw new FatalWait((error as Error).message);
      }
    },
  );
}

/** In _cat/nodes again. A process that died meanwhile ends the wait: it will not join. */
export async function waitRejoined(run: Run, node: PlannedNode): Promise<void> {
  await waitUntil(`${node.name} to rejoin the cluster`, run.options.timeoutMs, async () => {
    const members = await run.es.members().catch(() => undefined);
    // An offline plan knows names only; ES's ids come with the node.
    if (members && (node.id ? members.ids.has(node.id) : members.names.has(node.name))) return true;
    const status = await managerOf(run, node).status();
    if (isDown(status)) throw new FatalWait(`its process is ${status.state}${exitText(status)}; it will not rejoin`);
    return undefined;
  });
  const downAt = run.downAt.get(node.name);
  if (downAt !== undefined && !run.downFor.has(node.name))
    run.downFor.set(node.name, run.progress.elapsedMs() - downAt);
}

export async function waitHealth(run: Run, wanted: Health): Promise<Health> {
  return waitUntil(`cluster health ${wanted}`, run.options.timeoutMs, async () => {
    const health = await run.es.health(wanted, 1);
    return isAtLeast(health.status, wanted) ? health.status : undefined;
  });
}

export function isAtLeast(health: Health | undefined, wanted: Health): boolean {
  const order: Health[] = ['red', 'yellow', 'green'];
  return health !== undefined && order.indexOf(health) >= order.indexOf(wanted);
}

function exitText(status: ProcessStatus): string {
  const exit = status.lastExit;
  if (!exit) return '';
  return exit.code !== null ? ` (exit code ${exit.code})` : ` (signal ${exit.signal})`;
}

/** Runs fn over items, at most `limit` at once (a full restart of 100 nodes should not open 100 stops at once). */
export async function eachBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item).catch((error) => errors.push(error));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}
