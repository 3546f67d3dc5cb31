// One node at a time: never two down, the wanted health before the next one.
// A node already restarted by the run this one resumes is not stopped again;
// it is only seen back in the cluster and healthy before the next.

import { isRestartedSince } from './manager-client.ts';
import type { PlannedNode } from './plan.ts';
import { cleanUpRecords, putRecord } from './records.ts';
import { isAtLeast, managerOf, startNode, stopNode, waitHealth, waitRejoined, type Run } from './steps.ts';

export async function rollingRestart(run: Run): Promise<void> {
  const { es, progress, plan } = run;
  // The record of the node before stays until the next one's is put, so an
  // interrupted run always leaves one behind that says when it began.
  let previousRecord: PlannedNode | undefined;
  for (const node of plan.nodes) {
    const status = await progress.step(node.name, 'status', () => managerOf(run, node).status());
    if (isRestartedSince(status, plan.since)) {
      progress.note(node.name, `already restarted (started ${status.startedAt})`, { step: 'skip' });
    } else {
      await progress.step(node.name, 'check the others are in and the health', () => checkSafeToStop(run, node));
      await progress.step(node.name, 'allocation: primaries', () => es.setAllocation('primaries'));
      await progress.step(node.name, 'flush', () => es.flush());
      if (plan.supportsShutdownApi) {
        await progress.step(node.name, 'shutdown record (restart)', () => putRecord(run, node));
        const before = previousRecord;
        if (before) await progress.step(before.name, 'delete shutdown record', () => es.deleteShutdown(before.id));
        previousRecord = node;
      }
      await progress.step(node.name, 'stop', () => stopNode(run, node));
      await progress.step(
        node.name,
        run.options.config ? `start (configuration ${run.options.config.slice(0, 12)}…)` : 'start',
        () => startNode(run, node),
      );
    }
    await progress.step(node.name, 'rejoined', () => waitRejoined(run, node));
    await progress.step(node.name, 'allocation: all', () => es.setAllocation(null));
    await progress.step(node.name, `health ${run.options.waitFor}`, () => waitHealth(run, run.options.waitFor));
  }
  await cleanUpRecords(run);
}

/** Never two nodes down: every other node the run knows is in the cluster, and (unless it is down already) the health is the wanted one. */
async function checkSafeToStop(run: Run, node: PlannedNode): Promise<void> {
  const members = await run.es.members();
  const missing = [...run.plan.knownIds].filter((id) => id !== node.id && !members.ids.has(id));
  if (missing.length > 0)
    throw new Error(`refusing to stop it: node(s) ${missing.join(', ')} not in the cluster (never two nodes down)`);
  // Already down (a run interrupted between its stop and its start): the cluster is short of it, so not
  // green; stopping it changes nothing and starting it is the repair.
  if (!members.ids.has(node.id)) return;
  const health = await run.es.health();
  if (!isAtLeast(health.status, run.options.waitFor))
    throw new Error(`refusing to stop it: the cluster is ${health.status}, not ${run.options.waitFor}`);
}
