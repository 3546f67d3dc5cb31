// Every node down together (a setting all nodes must share): stop all, check
// all stopped, start all, all back and at least yellow, allocation back, the
// wanted health, then the records go. A node already started since the run
// began is not stopped again (a resumed run that got that far).

import { isDown, isRestartedSince } from './manager-client.ts';
import { cleanUpRecords, putRecord } from './records.ts';
import { eachBounded, managerOf, startNode, stopNode, waitHealth, waitRejoined, type Run } from './steps.ts';

/** Stops and starts at once: enough for a large cluster, few enough connections for a small Job. */
const PARALLEL = 8;

export async function fullRestart(run: Run): Promise<void> {
  const { es, progress, plan } = run;
  const statuses = await Promise.all(
    plan.nodes.map(async (node) => [node, await managerOf(run, node).status()] as const),
  );
  const pending = statuses.filter(([, status]) => !isRestartedSince(status, plan.since)).map(([node]) => node);
  for (const node of plan.nodes.filter((n) => !pending.includes(n)))
    progress.note(node.name, 'already restarted', { step: 'skip' });

  // Offline (every node down, no ES to ask): the interrupted run set allocation and put the records already.
  if (pending.length > 0 && !plan.isOffline) {
    await progress.step(null, 'allocation: primaries', () => es.setAllocation('primaries'));
    // Nodes may be down already (a resumed run): their shards cannot be flushed, the others' can.
    await progress.step(null, 'flush', () =>
      es.flush().catch((error) => progress.note(null, `flush incomplete: ${(error as Error).message}`)),
    );
    if (plan.supportsShutdownApi) {
      await progress.step(null, `shutdown records (restart) for ${pending.length} node(s)`, () =>
        eachBounded(
          pending.filter((node) => node.isPresent),
          PARALLEL,
          (node) => putRecord(run, node),
        ),
      );
    }
  }
  if (pending.length > 0) {
    await eachBounded(pending, PARALLEL, (node) =>
      progress.step(node.name, 'stop', () => stopNode(run, node)).then(() => {}),
    );
    await progress.step(null, 'all stopped', async () => {
      const still = [];
      for (const node of pending) if (!isDown(await managerOf(run, node).status())) still.push(node.name);
      if (still.length > 0) throw new Error(`still running: ${still.join(', ')}`);
    });
    await eachBounded(pending, PARALLEL, (node) =>
      progress.step(node.name, 'start', () => startNode(run, node)).then(() => {}),
    );
  }
  await eachBounded(plan.nodes, PARALLEL, (node) =>
    progress.step(node.name, 'rejoined', () => waitRejoined(run, node)),
  );
  await progress.step(null, 'health yellow', () => waitHealth(run, 'yellow'));
  await progress.step(null, 'allocation: all', () => es.setAllocation(null));
  await progress.step(null, `health ${run.options.waitFor}`, () => waitHealth(run, run.options.waitFor));
  await cleanUpRecords(run);
}
