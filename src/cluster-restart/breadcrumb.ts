// The shutdown records a run puts carry, in their `reason`, when the run began
// and where the node's manager is. An interrupted run (a failure, or the
// coordinator killed) leaves at least one record; the same command run again
// reads them to resume: which nodes are already restarted (started since that
// time), and where the manager of a node that is down now is (ES no longer
// lists a stopped node, so nothing else could say).

const PREFIX = 'process-manager cluster-restart';
const PATTERN = /^process-manager cluster-restart (rolling|full) run (\S+); node (\S+) manager (\S+)$/;

export interface Breadcrumb {
  readonly mode: string;
  readonly since: Date;
  readonly nodeName: string;
  readonly managerUrl: string;
}

export function breadcrumbReason(mode: string, since: Date, nodeName: string, managerUrl: string): string {
  return `${PREFIX} ${mode} run ${since.toISOString()}; node ${nodeName} manager ${managerUrl}`;
}

/** Put by a run of this command (a record someone else put is not ours to delete). */
export function isOurs(reason: string): boolean {
  return reason.startsWith(`${PREFIX} `);
}

export function readBreadcrumb(reason: string): Breadcrumb | undefined {
  const match = PATTERN.exec(reason);
  if (!match || Number.isNaN(Date.parse(match[2]))) return undefined;
  return { mode: match[1], since: new Date(match[2]), nodeName: match[3], managerUrl: match[4] };
}
