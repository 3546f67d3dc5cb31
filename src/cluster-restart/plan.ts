// Which nodes to restart, in which order, through which manager, and since
// when a node counts as restarted: worked out from ES, the --manager and
// --nodes options, and the records an interrupted run left.

import { readBreadcrumb, type Breadcrumb } from './breadcrumb.ts';
import type { EsClient } from './es-client.ts';
import { UsageError, type RestartOptions } from './options.ts';

export interface PlannedNode {
  readonly id: string;
  readonly name: string;
  readonly managerUrl: string;
  /** In the cluster when the run began (a node that an interrupted run stopped is not). */
  readonly isPresent: boolean;
  readonly isMaster: boolean;
}

export interface Plan {
  /** In restart order: nodes that are down first (an interrupted run left them so), the elected master last. */
  readonly nodes: readonly PlannedNode[];
  /** Every node id the run knows of, restarted or not: none but the one being restarted may be missing (rolling). */
  readonly knownIds: ReadonlySet<string>;
  readonly since: Date;
  /** Where `since` came from when this run resumes another. */
  readonly resumes: string | undefined;
  readonly supportsShutdownApi: boolean;
  readonly version: string;
  /** ES could not be asked (a full restart interrupted while every node was down): the nodes come from --manager. */
  readonly isOffline: boolean;
}

/** Node shutdown records of type restart exist from ES 7.15 (7.13 had them for removals only). */
export function supportsShutdownApi(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 7 || (major === 7 && minor >= 15);
}

export async function makePlan(es: EsClient, options: RestartOptions, now: Date): Promise<Plan> {
  const version = await es.version();
  const withShutdowns = supportsShutdownApi(version);
  const [present, members, records] = await Promise.all([
    es.httpNodes(),
    es.members(),
    withShutdowns ? es.shutdowns() : Promise.resolve([]),
  ]);
  const crumbs = new Map<string, Breadcrumb>();
  for (const record of records) {
    const crumb = readBreadcrumb(record.reason);
    if (crumb) crumbs.set(record.nodeId, crumb);
  }
  const scheme = options.clientCert ? 'https' : 'http';
  const all: PlannedNode[] = present.map((node) => ({
    id: node.id,
    name: node.name,
    managerUrl: options.managers.get(node.name) ?? `${scheme}://${node.host}:${options.managerPort}`,
    isPresent: true,
    isMaster: node.id === members.masterId,
  }));
  for (const [id, crumb] of crumbs) {
    if (all.some((node) => node.id === id)) continue;
    all.push({
      id,
      name: crumb.nodeName,
      managerUrl: options.managers.get(crumb.nodeName) ?? crumb.managerUrl,
      isPresent: false,
      isMaster: false,
    });
  }
  for (const name of options.managers.keys()) {
    if (!all.some((node) => node.name === name))
      throw new UsageError(`--manager ${name}=...: the cluster has no node named ${name} (nodes: ${names(all)})`);
  }
  let chosen = all;
  if (options.nodes) {
    const unknown = options.nodes.filter((name) => !all.some((node) => node.name === name));
    if (unknown.length > 0)
      throw new UsageError(`--nodes: the cluster has no node named ${unknown.join(', ')} (nodes: ${names(all)})`);
    chosen = all.filter((node) => options.nodes!.includes(node.name));
  }
  const rank = (node: PlannedNode): number => (node.isPresent ? 0 : -1) + (node.isMaster ? 1 : 0);
  const ordered = [...chosen].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const earliest = [...crumbs.values()].sort((a, b) => a.since.getTime() - b.since.getTime())[0];
  const since = options.since ?? earliest?.since ?? now;
  const resumes = options.since
    ? `--since ${options.since.toISOString()}`
    : earliest
      ? `the run of ${earliest.since.toISOString()} (its node shutdown records)`
      : undefined;
  return {
    nodes: ordered,
    knownIds: new Set(all.map((node) => node.id)),
    since,
    resumes,
    supportsShutdownApi: withShutdowns,
    version,
    isOffline: false,
  };
}

/**
 * A full restart interrupted after every node stopped leaves no ES to ask:
 * the nodes are then the --manager ones, their ids learnt once they are back.
 * Only for a resume (--since): index.ts also requires every one of them down.
 */
export function offlinePlan(options: RestartOptions): Plan | undefined {
  if (options.mode !== 'full' || !options.since || options.managers.size === 0 || options.nodes) return undefined;
  const nodes = [...options.managers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    nodes: nodes.map(([name, managerUrl]) => ({ id: '', name, managerUrl, isPresent: false, isMaster: false })),
    knownIds: new Set(),
    since: options.since,
    resumes: `--since ${options.since.toISOString()}, with Elasticsearch down`,
    supportsShutdownApi: false,
    version: 'unknown (not answering)',
    isOffline: true,
  };
}

function names(nodes: readonly PlannedNode[]): string {
  return (
    nodes
      .map((node) => node.name)
      .sort()
      .join(', ') || 'none'
  );
}
