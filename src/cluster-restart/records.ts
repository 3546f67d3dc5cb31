// The node shutdown records a run puts (ES ≥ 7.15) and deletes. They tell
// ES a node is only restarting, and their reasons are the breadcrumbs a rerun
// resumes from (breadcrumb.ts).

import { breadcrumbReason, isOurs, readBreadcrumb } from './breadcrumb.ts';
import { supportsShutdownApi, type PlannedNode } from './plan.ts';
import type { Run } from './steps.ts';

export function putRecord(run: Run, node: PlannedNode): Promise<void> {
  return run.es.putShutdown(node.id, breadcrumbReason(run.options.mode, run.plan.since, node.name, node.managerUrl));
}

/** Every record this run (or the one it resumes) put, once all is done: ES never removes them by itself. */
export async function cleanUpRecords(run: Run): Promise<void> {
  const supported = run.plan.supportsShutdownApi || (run.plan.isOffline && supportsShutdownApi(await run.es.version()));
  if (!supported) return;
  const ours = (await run.es.shutdowns()).filter((record) => isOurs(record.reason));
  for (const record of ours) {
    const name =
      run.plan.nodes.find((node) => node.id === record.nodeId)?.name ??
      readBreadcrumb(record.reason)?.nodeName ??
      record.nodeId;
    await run.progress.step(name, 'delete shutdown record', () => run.es.deleteShutdown(record.nodeId));
  }
}
