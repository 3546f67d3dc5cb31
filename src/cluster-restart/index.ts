// `process-manager cluster-restart`: checks what it needs before it changes
// anything (ES and every manager answer: else 69; the cluster's health allows
// it: else 75), prints the plan, runs the rolling or the full procedure, and
// on a failure stops with what it leaves and how to resume (1).

import { createEsClient, type EsError, type EsClient } from './es-client.ts';
import { fullRestart } from './full.ts';
import { createManagerClient, isDown, readManagerTls, type ManagerClient } from './manager-client.ts';
import { parseRestartOptions, UsageError, type RestartOptions } from './options.ts';
import { makePlan, offlinePlan, type Plan } from './plan.ts';
import { createProgress, StepFailure } from './progress.ts';
import { planSteps, reportFailure, reportSummary, resumeOf } from './report.ts';
import { rollingRestart } from './rolling.ts';
import { isAtLeast, type Run } from './steps.ts';

export const RESTART_EXIT = { OK: 0, FAILED: 1, USAGE: 64, UNAVAILABLE: 69, REFUSED: 75 } as const;

type Env = Readonly<Record<string, string | undefined>>;

/** Ends the run before anything changed, with its exit status. */
class Refusal extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

export async function runClusterRestart(
  argv: readonly string[],
  env: Env,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  let options: RestartOptions;
  try {
    options = parseRestartOptions(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err.write(`process-manager cluster-restart: ${error.message}\n`);
    return RESTART_EXIT.USAGE;
  }
  const progress = createProgress(options.isJson, out);
  const managers = new Map<string, ManagerClient>();
  let es: EsClient | undefined;
  try {
    es = await createEsClient(options).catch((error: EsError) => {
      throw new Refusal(error.message, RESTART_EXIT.USAGE);
    });
    const plan = await makePlan(es, options, new Date()).catch((error: Error) => {
      if (error instanceof UsageError) throw new Refusal(error.message, RESTART_EXIT.USAGE);
      const offline = offlinePlan(options);
      if (offline) return offline;
      throw new Refusal(`Elasticsearch at ${options.es} cannot be used: ${error.message}`, RESTART_EXIT.UNAVAILABLE);
    });
    if (plan.nodes.length === 0) throw new Refusal('no node to restart', RESTART_EXIT.USAGE);
    const tls = await readManagerTls(options).catch((error: Error) => {
      throw new Refusal(`cannot read the client certificate, key or manager CA: ${error.message}`, RESTART_EXIT.USAGE);
    });
    for (const node of plan.nodes)
      managers.set(node.name, createManagerClient(node.managerUrl, options.managerName, tls, options.timeoutMs));
    const run: Run = { es, options, plan, progress, managers, downAt: new Map(), downFor: new Map() };
    await checkManagers(run);
    await checkHealth(run);
    describePlan(run);
    endOnSignals(run, err);
    if (options.isDryRun) return RESTART_EXIT.OK;
    try {
      await (options.mode === 'rolling' ? rollingRestart(run) : fullRestart(run));
    } catch (error) {
      const failure =
        error instanceof StepFailure
          ? error
          : new StepFailure(null, 'unexpected', (error as Error).stack ?? String(error));
      await reportFailure(run, failure, err);
      return RESTART_EXIT.FAILED;
    }
    reportSummary(run);
    return RESTART_EXIT.OK;
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    if (options.isJson) progress.event('refused', { reason: error.message, exit_code: error.exitCode }, error.message);
    err.write(`process-manager cluster-restart: ${error.message}\n`);
    return error.exitCode;
  } finally {
    await Promise.all([es?.close(), ...[...managers.values()].map((m) => m.close())]);
  }
}

/** Every manager of the plan answers before anything changes: a run that cannot finish should not begin. */
async function checkManagers(run: Run): Promise<void> {
  const problems: string[] = [];
  await Promise.all(
    run.plan.nodes.map((node) =>
      run.managers
        .get(node.name)!
        .status()
        .then((status) => {
          // Found now, not after the node was stopped: --config needs managers that report their configuration.
          if (run.options.config && !status.config)
            problems.push(
              `${node.name} (${node.managerUrl}): reports no configuration checksum for --config (start it with --config-path)`,
            );
          // Without ES, only the state an interrupted full restart leaves (every node down) may be resumed: stopping
          // running nodes blind, without allocation at primaries, is not.
          if (run.plan.isOffline && !isDown(status))
            problems.push(
              `${node.name} (${node.managerUrl}): its process runs while Elasticsearch at ${run.options.es} does not answer`,
            );
        })
        .catch((error: Error) => problems.push(`${node.name} (${node.managerUrl}): ${error.message}`)),
    ),
  );
  if (problems.length > 0)
    throw new Refusal(`manager(s) not usable, nothing changed: ${problems.join('; ')}`, RESTART_EXIT.UNAVAILABLE);
}

/**
 * A fresh run begins only on a cluster that can afford it. A resumed run is
 * not held to that: the cluster is yellow (or red) because of the run it
 * resumes, which is what it is about to repair, and rolling checks the health
 * again before each node it stops.
 */
async function checkHealth(run: Run): Promise<void> {
  const { options, plan } = run;
  if (plan.isOffline) return;
  const health = await run.es.health().catch((error: Error) => {
    throw new Refusal(`Elasticsearch at ${options.es} cannot be used: ${error.message}`, RESTART_EXIT.UNAVAILABLE);
  });
  if (plan.resumes) return;
  const wanted = options.mode === 'rolling' ? options.waitFor : 'yellow';
  if (!isAtLeast(health.status, wanted)) {
    throw new Refusal(
      `the cluster is ${health.status}; a ${options.mode} restart needs ${options.mode === 'rolling' ? wanted : 'yellow or green'} to begin (nothing changed)`,
      RESTART_EXIT.REFUSED,
    );
  }
}

function describePlan(run: Run): void {
  const { options, plan, progress } = run;
  const steps = planSteps(options.mode, plan, options.config, options.waitFor);
  const resume = resumeOf(run);
  const head = `${options.isDryRun ? 'dry run, nothing will change: ' : ''}${options.mode} restart of ${plan.nodes.length} node(s), ES ${plan.version}${plan.resumes ? `, resuming ${plan.resumes}` : ''}`;
  progress.event(
    'plan',
    {
      mode: options.mode,
      dry_run: options.isDryRun,
      nodes: plan.nodes.map(describeNode),
      since: plan.since.toISOString(),
      resumes: plan.resumes ?? null,
      steps,
      resume,
    },
    [head, ...steps.map((s) => `  ${s}`), `  if interrupted, resume with: ${resume}`].join('\n'),
  );
}

/**
 * Run as a Job's container command it is PID 1, where a signal without a
 * handler does nothing: SIGTERM would wait out the grace period and end in
 * SIGKILL. It ends at once instead, saying how to resume.
 */
function endOnSignals(run: Run, err: NodeJS.WritableStream): void {
  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    process.once(signal, () => {
      const message = `interrupted by ${signal} after ${(run.progress.elapsedMs() / 1000).toFixed(1)}s; resume with: ${resumeOf(run)}`;
      if (run.options.isJson) run.progress.event('interrupted', { signal, resume: resumeOf(run) }, message);
      else err.write(`${message}\n`);
      process.exit(status);
    });
  }
}

function describeNode(node: Plan['nodes'][number]): Record<string, unknown> {
  return { name: node.name, id: node.id, manager: node.managerUrl, master: node.isMaster, present: node.isPresent };
}
