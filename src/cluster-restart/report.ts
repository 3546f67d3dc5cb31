// What the run says at its start (the plan), at its end (the summary) and when
// it stops on a failure: what was done, what is pending, the state the cluster
// is left in, and the command that resumes.

import { isDown, isRestartedSince } from './manager-client.ts';
import type { Plan } from './plan.ts';
import type { StepFailure } from './progress.ts';
import type { Run } from './steps.ts';

const SAFE_WORD = /^[A-Za-z0-9_./:=,@%+-]+$/;

/** The command as given, without --since and --dry-run, with --since TIME: what resumes this run. */
export function resumeCommand(
  argv: readonly string[],
  since: Date,
  managers: readonly [string, string][] = [],
): string {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--since') i++;
    else if (argv[i].startsWith('--since=') || argv[i] === '--dry-run') continue;
    else kept.push(argv[i]);
  }
  const managerValues = kept.flatMap((word, i) =>
    word.startsWith('--manager=') ? [word.slice('--manager='.length)] : kept[i - 1] === '--manager' ? [word] : [],
  );
  const given = new Set(managerValues.map((value) => value.slice(0, value.indexOf('='))));
  const extra = managers.filter(([name]) => !given.has(name)).flatMap(([name, url]) => ['--manager', `${name}=${url}`]);
  const words = ['process-manager', 'cluster-restart', ...kept, ...extra, '--since', since.toISOString()];
  return words.map(shellQuote).join(' ');
}

// POSIX shell quoting: inside single quotes only the quote itself needs care; it is closed, escaped and reopened.
function shellQuote(word: string): string {
  return SAFE_WORD.test(word) ? word : "'" + word.replaceAll("'", "'\\''") + "'";
}

/** This run's resume. A full restart's names every manager: were every node down, ES could not say where they are. */
export function resumeOf(run: Run): string {
  const managers: [string, string][] =
    run.options.mode === 'full' ? run.plan.nodes.map((node) => [node.name, node.managerUrl]) : [];
  return resumeCommand(run.options.argv, run.plan.since, managers);
}

export function planSteps(mode: string, plan: Plan, config: string | undefined, waitFor: string): string[] {
  const record = plan.supportsShutdownApi ? 'shutdown record, ' : '';
  const start = config ? `start once the manager reports configuration ${config.slice(0, 12)}…` : 'start';
  if (mode === 'rolling') {
    return plan.nodes.map(
      (node, i) =>
        `${i + 1}. ${node.name}${node.isMaster ? ' (elected master)' : ''}${node.isPresent ? '' : ' (not in the cluster now)'} via ${node.managerUrl}: allocation primaries, flush, ${record}stop, ${start}, rejoined, allocation all, health ${waitFor}`,
    );
  }
  return [
    `1. allocation primaries, flush${plan.supportsShutdownApi ? ', shutdown records' : ''}`,
    `2. stop ${plan.nodes.map((node) => `${node.name} via ${node.managerUrl}`).join(', ')}; check all stopped`,
    `3. ${start} every node; all rejoined; health yellow`,
    `4. allocation all; health ${waitFor}${plan.supportsShutdownApi ? '; delete the shutdown records' : ''}`,
  ];
}

export function reportSummary(run: Run): void {
  const down = run.plan.nodes.map((node) => {
    const ms = run.downFor.get(node.name);
    return { node: node.name, down_ms: ms ?? null };
  });
  const text = down
    .map(
      (d) => `${d.node} ${d.down_ms === null ? 'not restarted by this run' : `${(d.down_ms / 1000).toFixed(1)}s down`}`,
    )
    .join(', ');
  run.progress.event(
    'summary',
    { mode: run.options.mode, nodes: run.plan.nodes.length, total_ms: run.progress.elapsedMs(), down },
    `done: ${run.options.mode} restart of ${run.plan.nodes.length} node(s) in ${(run.progress.elapsedMs() / 1000).toFixed(1)}s; ${text}`,
  );
}

/** Best effort: each fact that cannot be read says so instead of hiding the rest. */
export async function reportFailure(run: Run, failure: StepFailure, err: NodeJS.WritableStream): Promise<void> {
  const members = await run.es.members().catch(() => undefined);
  const nodes = await Promise.all(
    run.plan.nodes.map(async (node) => {
      try {
        const status = await run.managers.get(node.name)!.status();
        const state = isRestartedSince(status, run.plan.since)
          ? 'restarted'
          : isDown(status)
            ? `down (${status.state})`
            : 'not restarted yet';
        const absent = members && !isDown(status) && !members.ids.has(node.id) ? ', not in the cluster' : '';
        return { node: node.name, state: state + absent };
      } catch (error) {
        return { node: node.name, state: `unknown: ${(error as Error).message}` };
      }
    }),
  );
  const allocation = await run.es.allocation().then(
    (value) => (value === null ? 'all (not set)' : value),
    (error: Error) => `unknown: ${error.message}`,
  );
  const records = run.plan.supportsShutdownApi
    ? await run.es.shutdowns().then(
        (list) => list.map((r) => run.plan.nodes.find((n) => n.id === r.nodeId)?.name ?? r.nodeId).join(', ') || 'none',
        (error: Error) => `unknown: ${error.message}`,
      )
    : 'not used (ES before 7.15)';
  const resume = resumeOf(run);
  const where = failure.node ? `node ${failure.node}, step '${failure.step}'` : `step '${failure.step}'`;
  const fields = {
    node: failure.node,
    step: failure.step,
    reason: failure.message,
    nodes,
    allocation,
    shutdown_records: records,
    resume,
  };
  const lines = [
    `cluster-restart failed at ${where}: ${failure.message}`,
    `nodes: ${nodes.map((n) => `${n.node} ${n.state}`).join('; ')}`,
    `left: allocation ${allocation}${allocation === 'primaries' ? ' (replicas are not allocated until it is back to all)' : ''}; shutdown records: ${records}`,
    `resume with: ${resume}`,
  ];
  if (run.options.isJson) run.progress.event('failed', fields, lines.join('\n'));
  else err.write(`${lines.join('\n')}\n`);
}
