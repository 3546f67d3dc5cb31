// cluster-restart in real containers: three Pods played from test/e2e/pod.yaml
// (the README's wiring: the init container installs process-manager, the
// Elasticsearch container runs it as PID 1 as uid 1000), each supervising one
// node of the fake ES cluster (test/fixtures/es-cluster), whose own process
// runs on the host; and `process-manager cluster-restart` run from the init
// image as the README's Job runs it, on the host network. A rolling restart,
// then a full one: each node restarted in place (same container, same PID 1
// and manager), the cluster's own record for who was down when.
//
// Needs what test/e2e/containers.test.ts needs, plus node (the fake nodes run
// this machine's node inside their image). Skipped only when podman is not
// installed at all. PM_E2E_KEEP_IMAGES=1 keeps the run's images.

import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startClusterServer, type ClusterServer } from '../helpers/es-cluster.ts';
import { freePort } from '../helpers/manager.ts';
import {
  buildClusterImages,
  containerEvents,
  createPodman,
  EXECUTABLE,
  isStaleRun,
  playPod,
  podmanMissing,
  removeRunsSync,
  runId,
  writeContainersConf,
  type CommandResult,
  type PlayedPod,
  type Podman,
} from './podman.ts';

const NODES = ['es-0', 'es-1', 'es-2'];
/** Where each node's manager listens, and what its node publishes as its HTTP address. */
const NODE_HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const ALLOCATION = 'cluster.routing.allocation.enable';
/** What podman reports when a container ends or (re)starts: none may happen to a restart in place. */
const LIFECYCLE_EVENTS = ['init', 'start', 'restart', 'stop', 'kill', 'died', 'cleanup', 'remove'];
/**
 * A run takes seconds. Each of its steps may take STEP_TIMEOUT (a busy
 * machine), after which the Job itself fails naming the step; the whole
 * podman run is cut off after JOB_TIMEOUT_MS in case the Job hangs anyway.
 */
const STEP_TIMEOUT = '1m';
const JOB_TIMEOUT_MS = 240_000;

/** What must not change when a node is restarted in place, and what must. */
interface PodFacts {
  readonly containerId: string;
  /** The container's PID 1, as the host sees it. */
  readonly hostPid: number;
  readonly startedAt: string;
  readonly restartCount: number;
  /** The manager, PID 1's child, inside the container. */
  readonly managerPid: number | undefined;
  /** GET /es/status. */
  readonly status: any;
  /** The fake node's process, as ps shows it inside the container. */
  readonly node: { pid: number; ppid: number; uid: string; args: string } | undefined;
}

async function factsOf(podman: Podman, pod: PlayedPod): Promise<PodFacts> {
  const status = await pod.waitForStatus((s) => s.state === 'started', `${pod.name}: state started`);
  const [inspected] = JSON.parse(await podman.ok(['inspect', pod.container]));
  const rows = await pod.ps();
  const manager = rows.find((row) => row.ppid === 1 && row.args.startsWith('/mnt/pm/process-manager '));
  const node = rows.find((row) => row.pid === status.pid);
  const uid = node ? (await pod.exec('stat', '-c', '%u', `/proc/${node.pid}`)).stdout.trim() : '';
  return {
    containerId: inspected.Id,
    hostPid: inspected.State.Pid,
    startedAt: inspected.State.StartedAt,
    restartCount: inspected.RestartCount ?? 0,
    managerPid: manager?.pid,
    status,
    node: node && { pid: node.pid, ppid: node.ppid, uid, args: node.args },
  };
}

const missing = podmanMissing();
if (missing) {
  t.plan(0, `skipping the cluster e2e: ${missing}`);
} else {
  const run = runId();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${run}-`));
  const podman: Podman = createPodman(writeContainersConf(dir));
  let images: { initImage: string; esImage: string };
  let cluster: ClusterServer | undefined;
  const pods = new Map<string, PlayedPod>();
  t.setTimeout(600_000);
  const keepImages = process.env.PM_E2E_KEEP_IMAGES === '1';
  process.on('exit', () => {
    removeRunsSync(podman.env, (name) => name.startsWith(run), !keepImages);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const removeAll = async (): Promise<void> => {
    await Promise.all([...pods.values()].map((pod) => pod.remove()));
    pods.clear();
    await cluster?.close();
    cluster = undefined;
  };
  t.teardown(async () => {
    if (!t.passing()) for (const pod of pods.values()) t.comment(`podman logs ${pod.container}:\n${await pod.logs()}`);
    await removeAll();
  });

  t.before(async () => {
    const stale = removeRunsSync(podman.env, isStaleRun, true);
    if (stale.length > 0) t.comment(`removed what earlier, interrupted runs left: ${stale.join(' ')}`);
    if (!fs.existsSync(EXECUTABLE))
      throw new Error(`${EXECUTABLE} is missing: run 'node build.mjs' (BUILD_DIR=${process.env.BUILD_DIR ?? 'dist'})`);
    let started = Date.now();
    images = buildClusterImages(podman, run);
    t.comment(`built ${images.initImage} and ${images.esImage} in ${Date.now() - started} ms`);
    cluster = await startClusterServer(NODES);
    started = Date.now();
    // Every Pod's manager on the same port, each on its own loopback address, which its node publishes as
    // its HTTP address: what a Pod IP each gives in Kubernetes, so the Job finds the managers through ES.
    const port = await freePort();
    for (const [i, name] of NODES.entries()) {
      const host = NODE_HOSTS[i];
      const env = { FAKE_NODE_NAME: name, FAKE_NODE_IP: host, FAKE_CLUSTER_TRANSPORT: String(cluster.transportPort) };
      pods.set(name, await playPod({ podman, dir, name: `${run}-${name}`, ...images, env, api: { host, port } }));
    }
    await cluster.waitGreen(120_000);
    t.comment(`played ${NODES.length} Pods, the cluster green, in ${Date.now() - started} ms`);
  });

  /**
   * `process-manager cluster-restart` as the README's Job runs it: the init
   * image's executable in a container of its own, here on the host network.
   * No --manager: each node's manager is found at the host of the node's HTTP
   * publish address, on --manager-port, as in Kubernetes.
   */
  const job = async (label: string, args: readonly string[]): Promise<CommandResult> => {
    const managers = ['--manager-port', String(pods.get(NODES[0])!.port)];
    return podman.run(
      [
        'run',
        '--rm',
        '--name',
        `${run}-job-${label}`,
        '--network',
        'host',
        images.initImage,
        'cluster-restart',
        '--es',
        cluster!.url,
        ...managers,
        '--timeout',
        STEP_TIMEOUT,
        ...args,
      ],
      JOB_TIMEOUT_MS,
    );
  };

  const factsOfAll = async (): Promise<Map<string, PodFacts>> => {
    const facts = new Map<string, PodFacts>();
    for (const [name, pod] of pods) facts.set(name, await factsOf(podman, pod));
    return facts;
  };

  /** Each node restarted exactly once by the run, in place. */
  const assertRestartedInPlace = async (
    tt: Test,
    before: Map<string, PodFacts>,
    joinsBefore: Record<string, number>,
    since: Date,
  ): Promise<void> => {
    const state = await cluster!.state();
    const after = await factsOfAll();
    for (const [name, pod] of pods) {
      const was = before.get(name)!;
      const now = after.get(name)!;
      tt.equal(state.nodes[name]?.joins, joinsBefore[name] + 1, `${name} left and joined the cluster once`);
      tt.equal(state.nodes[name]?.live, true, `${name} is in the cluster`);
      tt.equal(now.containerId, was.containerId, `${name}: the same container`);
      tt.equal(now.hostPid, was.hostPid, `${name}: the same PID 1 (host pid ${was.hostPid})`);
      tt.equal(now.startedAt, was.startedAt, `${name}: the container was not restarted`);
      tt.equal(now.restartCount, was.restartCount, `${name}: the runtime counted no restart`);
      tt.ok(
        now.managerPid !== undefined && now.managerPid === was.managerPid,
        `${name}: the same manager, pid ${was.managerPid}`,
      );
      tt.not(
        now.status.pid,
        was.status.pid,
        `${name}: a new Elasticsearch process (${was.status.pid} -> ${now.status.pid})`,
      );
      tt.equal(now.status.restarts, was.status.restarts + 1, `${name}: the manager counted one restart`);
      tt.ok(Date.parse(now.status.startedAt) >= since.getTime(), `${name}: started during the run`);
      tt.equal(now.node?.ppid, now.managerPid, `${name}: the new node is the manager's child`);
      tt.match(now.node?.args, /fake-node\.mjs/, `${name}: and it is the fake node`);
      tt.equal(now.node?.uid, '1000', `${name}: running as uid 1000`);
      const events = (await containerEvents(podman, pod.container, since)).map((event) => event.status);
      tt.same(
        events.filter((status) => LIFECYCLE_EVENTS.includes(status)),
        [],
        `${name}: the container did not stop, die or start during the run (events: ${events.join(', ') || 'none'})`,
      );
    }
    tt.equal(state.settings.persistent[ALLOCATION], undefined, 'allocation re-enabled (not left at primaries)');
    tt.equal(state.settings.transient[ALLOCATION], undefined, 'and no transient allocation setting');
    tt.same(state.shutdowns, [], 'no node shutdown record left');
    tt.equal(state.health.status, 'green', 'green');
    tt.same(state.unlisted, [], 'only the ES APIs the contract lists');
  };

  t.test(
    'rolling, run from the init image as the Job would: each node restarted in place, never two down, the master last, allocation back, green',
    async (tt) => {
      await cluster!.reset();
      const before = await factsOfAll();
      for (const [name, facts] of before) {
        tt.equal(facts.node?.uid, '1000', `${name}: the fake node runs as uid 1000, under the manager`);
        tt.equal(facts.node?.ppid, facts.managerPid, `${name}: the node is the manager's child`);
      }
      const state = await cluster!.state();
      const joins = Object.fromEntries(NODES.map((name) => [name, state.nodes[name].joins]));
      const master = state.master;
      const since = new Date(Date.now() - 1_000);
      const started = Date.now();
      const result = await job('rolling', ['--mode', 'rolling']);
      tt.comment(`the rolling restart took ${Date.now() - started} ms, container start included`);
      tt.equal(result.code, 0, `the Job exits 0:\n${result.stdout}${result.stderr}`);
      tt.match(result.stdout, /done: rolling restart of 3 node\(s\) in \d+\.\ds/, 'its summary');
      for (const [i, name] of NODES.entries()) {
        const url = `http://${NODE_HOSTS[i]}:${pods.get(name)!.port}`;
        const planLine = result.stdout.split('\n').find((line) => new RegExp(`^\\s*\\d+\\. ${name}\\b`).test(line));
        tt.ok(planLine?.includes(` via ${url}:`), `${name}'s manager found through ES, at ${url} (${planLine})`);
      }
      const stops = [...result.stdout.matchAll(/(es-\d): stop \(/g)].map((m) => m[1]);
      tt.same(stops.toSorted(), NODES, 'every node stopped once');
      tt.equal(stops.at(-1), master, 'the elected master last');
      tt.equal(
        (await cluster!.state()).lowestLive,
        NODES.length - 1,
        'never two nodes down at once (the cluster saw at most one missing)',
      );
      await assertRestartedInPlace(tt, before, joins, since);
    },
  );

  t.test('full, run from the init image: all down together, all back in place, allocation back, green', async (tt) => {
    await cluster!.reset();
    const before = await factsOfAll();
    const state = await cluster!.state();
    const joins = Object.fromEntries(NODES.map((name) => [name, state.nodes[name].joins]));
    const since = new Date(Date.now() - 1_000);
    const started = Date.now();
    const result = await job('full', ['--mode', 'full', '--json']);
    tt.comment(`the full restart took ${Date.now() - started} ms, container start included`);
    tt.equal(result.code, 0, `the Job exits 0:\n${result.stdout}${result.stderr}`);
    const events = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
    const steps = events.filter((e) => e.event === 'step').map((e) => `${e.node ?? 'cluster'} ${e.step}`);
    const lastStop = Math.max(...NODES.map((n) => steps.indexOf(`${n} stop`)));
    const allStopped = steps.indexOf('cluster all stopped');
    const firstStart = Math.min(...NODES.map((n) => steps.indexOf(`${n} start`)));
    tt.ok(
      NODES.every((n) => steps.includes(`${n} stop`) && steps.includes(`${n} start`)),
      `every node stopped and started (${steps.join(', ')})`,
    );
    tt.ok(lastStop < allStopped && allStopped < firstStart, 'all stopped before any start');
    tt.match(events.at(-1), { event: 'summary', mode: 'full', nodes: 3 });
    tt.equal((await cluster!.state()).lowestLive, 0, 'the cluster saw every node down at once');
    await assertRestartedInPlace(tt, before, joins, since);
  });

  t.test('removes everything it made: pods, containers, volumes', async (tt) => {
    await removeAll();
    const ours = (args: string[]) =>
      podman.ok(args).then((out) => out.split('\n').filter((line) => line.startsWith(run)));
    tt.same(await ours(['pod', 'ps', '--format', '{{.Name}}']), [], 'no pod');
    tt.same(await ours(['ps', '--all', '--format', '{{.Names}}']), [], 'no container (the Jobs removed themselves)');
    tt.same(await ours(['volume', 'ls', '--format', '{{.Name}}']), [], 'no volume');
  });
}
