// Real containers for the e2e suite: podman with a configuration of our own,
// the two images built offline, the documented Pod played with
// `podman kube play`, and eyes into a running container (ps, logs, events,
// inspect). Everything it creates carries the run's name (runId) so that it
// can be removed even after an interrupted run. Everything runs offline: the
// images are built from local files (build-images.sh), nothing is pulled.

import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, ROOT, waitFor } from '../helpers/manager.ts';

export { ROOT };

/** The harness's waitFor, typed for conditions that answer undefined until they hold. */
export async function until<T>(
  cond: () => Promise<T | undefined>,
  what: string,
  timeoutMs: number,
  intervalMs: number,
): Promise<T> {
  return (await waitFor(cond, what, timeoutMs, intervalMs)) as T;
}
/**
 * The built executable, found as build.mjs writes it: BUILD_DIR resolved
 * against the repository, so that an absolute one works too (the harness's
 * EXECUTABLE joins it, which breaks BUILD_DIR=/tmp/...).
 */
export const EXECUTABLE =
  process.env.PM_EXECUTABLE ?? path.resolve(ROOT, process.env.BUILD_DIR ?? 'dist', 'process-manager');
const POD_TEMPLATE = path.join(ROOT, 'test/e2e/pod.yaml');
const BUILD_IMAGES = path.join(ROOT, 'test/e2e/build-images.sh');
/** podman commands that should answer at once; `wait` and `stop` get their own limits. */
const COMMAND_TIMEOUT_MS = 120_000;

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Why podman cannot run at all (the only reason to skip the suite), or undefined when it can. */
export function podmanMissing(): string | undefined {
  const probe = spawnSync('podman', ['--version'], { encoding: 'utf8' });
  const error = probe.error as NodeJS.ErrnoException | undefined;
  if (error?.code === 'ENOENT') return 'podman is not installed (apt-get install podman runc catatonit busybox-static)';
  return undefined;
}

/**
 * A containers.conf of our own instead of editing /etc: podman's default
 * ulimits ask for more than this machine allows without CAP_SYS_RESOURCE,
 * and crun refuses the hybrid cgroup layout, so use the limits in force and runc.
 */
export function writeContainersConf(dir: string): string {
  // What `ulimit -n`, `-Hn`, `-u` and `-Hu` say, read from the kernel.
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  const limit = (name: string): [string, string] => {
    const match = new RegExp(`^${name}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(limits);
    if (!match) throw new Error(`no '${name}' in /proc/self/limits`);
    return [match[1], match[2]];
  };
  const [nofileSoft, nofileHard] = limit('Max open files');
  const [nprocSoft, nprocHard] = limit('Max processes');
  // podman itself runs with NPROC 32768 at most: the container cannot have more.
  const nproc = (value: string): number => (value === 'unlimited' ? 32_768 : Math.min(32_768, Number(value)));
  const file = path.join(dir, 'containers.conf');
  fs.writeFileSync(
    file,
    [
      '[containers]',
      `default_ulimits = ["nofile=${nofileSoft}:${nofileHard}", "nproc=${nproc(nprocSoft)}:${nproc(nprocHard)}"]`,
      '[engine]',
      'runtime = "runc"',
      '',
    ].join('\n'),
  );
  return file;
}

export function createPodman(containersConf: string) {
  const env = { ...process.env, CONTAINERS_CONF: containersConf };
  const run = (args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> =>
    new Promise((resolve) => {
      execFile(
        'podman',
        args,
        { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20, encoding: 'utf8' },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          const timedOut = error?.killed ? `\n(podman ${args[0]} killed after ${timeoutMs} ms)` : '';
          resolve({ code, stdout, stderr: stderr + timedOut });
        },
      );
    });
  /** Runs podman and returns its stdout; a non-zero exit is an error that quotes stderr. */
  const ok = async (args: readonly string[], timeoutMs?: number): Promise<string> => {
    const result = await run(args, timeoutMs);
    if (result.code !== 0)
      throw new Error(`podman ${args.join(' ')} exited with ${result.code}: ${result.stderr.trim()}`);
    return result.stdout;
  };
  return { env, run, ok };
}
export type Podman = ReturnType<typeof createPodman>;

/** Runs test/e2e/build-images.sh for the images named (its IMAGES); what it printed, NAME → image. */
function runBuildImages(podman: Podman, tag: string, images: readonly string[]): (name: string) => string {
  const built = spawnSync('sh', [BUILD_IMAGES], {
    // NODE: the fake cluster nodes in their image run on the very Node.js that runs the tests and the fake cluster.
    env: { ...podman.env, IMAGE_TAG: tag, EXECUTABLE, IMAGES: images.join(' '), NODE: process.execPath },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (built.status !== 0)
    throw new Error(`build-images.sh exited with ${built.status ?? built.signal}:\n${built.stderr}${built.stdout}`);
  return (name) => {
    const line = built.stdout.split('\n').find((l) => l.startsWith(`${name}=`));
    if (!line) throw new Error(`build-images.sh printed no ${name}:\n${built.stdout}`);
    return line.slice(name.length + 1);
  };
}

/** Builds the init and the fake Elasticsearch images under the given tag. */
export function buildImages(podman: Podman, tag: string): { initImage: string; esImage: string } {
  const value = runBuildImages(podman, tag, ['init', 'fake-es']);
  return { initImage: value('INIT_IMAGE'), esImage: value('ES_IMAGE') };
}

/** Builds the init image and, as the Elasticsearch image, one whose process is a node of the fake ES cluster. */
export function buildClusterImages(podman: Podman, tag: string): { initImage: string; esImage: string } {
  const value = runBuildImages(podman, tag, ['init', 'fake-node']);
  return { initImage: value('INIT_IMAGE'), esImage: value('FAKE_NODE_IMAGE') };
}

export interface PodValues {
  readonly POD_NAME: string;
  readonly INIT_IMAGE: string;
  readonly ES_IMAGE: string;
  readonly API_PORT: string;
}

/** Fills the ${...} placeholders of pod.yaml; a placeholder left over outside comments is an error. */
function renderPod(template: string, values: PodValues): string {
  const text = template.replace(/\$\{([A-Z_]+)\}/g, (whole, name: string) =>
    name in values ? values[name as keyof PodValues] : whole,
  );
  const left = text.split('\n').filter((line) => !line.trimStart().startsWith('#') && /\$\{[A-Z_]+\}/.test(line));
  if (left.length > 0) throw new Error(`pod.yaml has placeholders renderPod does not know: ${left.join('; ')}`);
  return text;
}

/**
 * What playing the Pod under podman 4.3 takes beyond Kubernetes (the header of
 * pod.yaml says why): restartPolicy Never, no `ports:` list, and a volume name
 * of our own, since podman names an emptyDir's volume after the manifest's
 * volume and two Pods of the same manifest would otherwise share it.
 */
function podmanManifest(manifest: string, volumeName: string): string {
  const edit = (text: string, pattern: RegExp, replacement: string, expected: number, what: string): string => {
    const count = text.match(pattern)?.length ?? 0;
    if (count !== expected) throw new Error(`pod.yaml changed: expected ${expected} ${what}, found ${count}`);
    return text.replace(pattern, replacement);
  };
  let text = edit(manifest, /^spec:\n/gm, 'spec:\n  restartPolicy: Never\n', 1, "'spec:' line");
  text = edit(text, /^( +)ports:\n(?:\1 .*\n)+/gm, '', 1, "'ports:' list");
  text = edit(
    text,
    /^( +-? ?name: )process-manager$/gm,
    `$1${volumeName}`,
    3,
    "mentions of the 'process-manager' volume",
  );
  return text;
}

export function sha256OfFile(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export interface ProcessRow {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly stat: string;
  /** The command line, without the {comm} busybox shows first when it differs from argv[0]. */
  readonly args: string;
}

/** Parses `ps -o pid,ppid,pgid,stat,args` as busybox prints it. */
export function parsePs(output: string): ProcessRow[] {
  const rows: ProcessRow[] = [];
  for (const line of output.split('\n').slice(1)) {
    const match = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    if (!match) continue;
    rows.push({
      pid: Number(match[1]),
      ppid: Number(match[2]),
      pgid: Number(match[3]),
      stat: match[4],
      args: match[5].replace(/^\{[^}]*\} ?/, ''),
    });
  }
  return rows;
}

/** The fake Elasticsearch's tree: launcher (the entrypoint), server and controller (not the manager, whose --cmd names the entrypoint too). */
export function esProcesses(rows: readonly ProcessRow[]): ProcessRow[] {
  return rows.filter(
    (row) => row.args.startsWith('/bin/sh /usr/local/bin/docker-entrypoint.sh') || row.args.includes('sleep 100000'),
  );
}

export interface PlayedPod {
  readonly name: string;
  readonly container: string;
  readonly initContainer: string;
  readonly volume: string;
  readonly port: number;
  readonly playedAt: Date;
  api(method: string, route: string): Promise<{ status: number; json: any }>;
  /** GET /es/status, or undefined while nothing answers. */
  status(): Promise<any>;
  waitForStatus(predicate: (status: any) => boolean, what: string, timeoutMs?: number): Promise<any>;
  exec(...command: string[]): Promise<CommandResult>;
  ps(): Promise<ProcessRow[]>;
  /** Until the whole fake-ES tree runs (its TERM trap is set by then). */
  waitForEsTree(timeoutMs?: number): Promise<ProcessRow[]>;
  inspect(format: string): Promise<string>;
  /** Until the container has exited and its pod has settled; the exit code. */
  waitForExit(timeoutMs?: number): Promise<number>;
  /** `podman start`, then until the API answers. */
  start(): Promise<any>;
  logs(): Promise<string>;
  remove(): Promise<void>;
}

export interface PlayOptions {
  readonly podman: Podman;
  readonly dir: string;
  readonly name: string;
  readonly initImage: string;
  readonly esImage: string;
  /** Extra environment for the Elasticsearch container (FAKE_ES_ knobs, a fake cluster node's identity). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The API's address in place of pod.yaml's 0.0.0.0, and its port in place of
   * a free one: Pods sharing the host's network, each on its own loopback
   * address and all on one port, stand for Pods with an IP each.
   */
  readonly api?: { readonly host: string; readonly port: number };
}

/** Plays pod.yaml under the given name and waits for the manager's API. */
export async function playPod(options: PlayOptions): Promise<PlayedPod> {
  const { podman, name } = options;
  const port = options.api?.port ?? (await freePort());
  const host = options.api?.host ?? '127.0.0.1';
  const volume = `${name}-pm`;
  let manifest = podmanManifest(
    renderPod(fs.readFileSync(POD_TEMPLATE, 'utf8'), {
      POD_NAME: name,
      INIT_IMAGE: options.initImage,
      ES_IMAGE: options.esImage,
      API_PORT: String(port),
    }),
    volume,
  );
  if (options.api) {
    const bindAll = /^( +value: )0\.0\.0\.0$/gm;
    if (manifest.match(bindAll)?.length !== 1)
      throw new Error('pod.yaml changed: expected one PM_HTTP_HOST value 0.0.0.0');
    manifest = manifest.replace(bindAll, `$1${host}`);
  }
  for (const [variable, value] of Object.entries(options.env ?? {})) {
    manifest = manifest.replace(
      /^( +)env:\n/m,
      `$1env:\n$1  - name: ${variable}\n$1    value: ${JSON.stringify(value)}\n`,
    );
  }
  const file = path.join(options.dir, `${name}.yaml`);
  fs.writeFileSync(file, manifest);

  const container = `${name}-elasticsearch`;
  const api = async (method: string, route: string): Promise<{ status: number; json: any }> => {
    const response = await fetch(`http://${host}:${port}${route}`, { method, signal: AbortSignal.timeout(60_000) });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };
  const status = async (): Promise<any> => {
    try {
      return (await api('GET', '/es/status')).json;
    } catch {
      return undefined; // not listening (yet, or any more)
    }
  };
  const ps = async (): Promise<ProcessRow[]> =>
    parsePs(await podman.ok(['exec', container, 'ps', '-o', 'pid,ppid,pgid,stat,args']));
  const pod: PlayedPod = {
    name,
    container,
    initContainer: `${name}-install-process-manager`,
    volume,
    port,
    playedAt: new Date(Date.now() - 1_000),
    api,
    status,
    waitForStatus: (predicate, what, timeoutMs = 60_000) =>
      until(
        async () => {
          const current = await status();
          return current && predicate(current) ? current : undefined;
        },
        what,
        timeoutMs,
        100,
      ),
    exec: (...command) => podman.run(['exec', container, ...command]),
    ps,
    waitForEsTree: (timeoutMs = 60_000) =>
      until(
        async () => {
          const tree = esProcesses(await ps());
          return tree.length === 3 && tree.some((row) => row.args.startsWith('sleep 100000')) ? tree : undefined;
        },
        'the fake Elasticsearch tree (launcher, server, controller)',
        timeoutMs,
        100,
      ),
    inspect: async (format) => (await podman.ok(['inspect', '--format', format, container])).trim(),
    waitForExit: async (timeoutMs = 120_000) => {
      const code = Number((await podman.ok(['wait', container], timeoutMs)).trim());
      // kube play gives the pod the exit policy `stop`: once its last container has exited, podman
      // stops the infra container too, in the background. A `podman start` racing with that fails
      // ("cannot get namespace path unless container ... is running"); let it finish first.
      await waitFor(
        async () => (await podman.ok(['pod', 'inspect', '--format', '{{.State}}', name])).trim() === 'Exited',
        `pod ${name} to settle as Exited`,
        timeoutMs,
        100,
      );
      return code;
    },
    start: async () => {
      await podman.ok(['start', container]);
      return pod.waitForStatus(() => true, `the API on port ${port} after podman start`);
    },
    logs: async () => {
      const result = await podman.run(['logs', container]);
      return result.stdout + result.stderr;
    },
    remove: async () => {
      await podman.run(['pod', 'rm', '--force', '--time', '0', name]);
      // podman 4.3 removes an emptyDir's volume with the pod; make sure of it.
      await podman.run(['volume', 'rm', '--force', volume]);
    },
  };
  const played = await podman.run(['kube', 'play', file]);
  if (played.code !== 0) {
    await pod.remove();
    throw new Error(`podman kube play exited with ${played.code}: ${played.stderr.trim()}`);
  }
  await pod.waitForStatus(() => true, `the API on port ${port}`);
  return pod;
}

export interface ContainerEvent {
  readonly status: string;
  readonly exitCode: number;
  /** Nanoseconds since the epoch. */
  readonly time: bigint;
}

/** podman events of one container since the given time, oldest first. */
export async function containerEvents(podman: Podman, container: string, since: Date): Promise<ContainerEvent[]> {
  const output = await podman.ok([
    'events',
    '--stream=false',
    '--since',
    since.toISOString(),
    '--filter',
    `container=${container}`,
    '--format',
    '{{.Time.UnixNano}}\t{{.Status}}\t{{.ContainerExitCode}}',
  ]);
  return output
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [time, status, exitCode] = line.split('\t');
      return { time: BigInt(time), status, exitCode: Number(exitCode) };
    })
    .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}

const RUN_PREFIX = 'pm-e2e-';

/** Unique per run, so that two runs on one machine never share a pod, a volume or an image tag. */
export function runId(): string {
  return `${RUN_PREFIX}${process.pid}-${Date.now().toString(36)}`;
}

/**
 * Removes, synchronously, the pods, containers and volumes whose names
 * `belongs` accepts and, with images, the images whose tag it accepts: at
 * exit, even when the test process is cut short (a tap timeout skips
 * teardowns), and at start for earlier runs that were. Returns what it removed.
 */
export function removeRunsSync(env: NodeJS.ProcessEnv, belongs: (name: string) => boolean, images: boolean): string[] {
  const list = (args: string[]): string[] =>
    spawnSync('podman', args, { env, encoding: 'utf8', timeout: 60_000 })
      .stdout?.split('\n')
      .filter((name) => name && belongs(name)) ?? [];
  const removed: string[] = [];
  const remove = (args: string[], names: string[]): void => {
    if (names.length === 0) return;
    spawnSync('podman', [...args, ...names], { env, encoding: 'utf8', timeout: 120_000 });
    removed.push(...names);
  };
  remove(['pod', 'rm', '--force', '--time', '0'], list(['pod', 'ps', '--format', '{{.Name}}']));
  remove(['rm', '--force', '--time', '0'], list(['ps', '--all', '--format', '{{.Names}}']));
  remove(['volume', 'rm', '--force'], list(['volume', 'ls', '--format', '{{.Name}}']));
  if (images) {
    const tagged =
      spawnSync('podman', ['images', '--format', '{{.Repository}}:{{.Tag}}'], {
        env,
        encoding: 'utf8',
        timeout: 60_000,
      }).stdout ?? '';
    remove(
      ['rmi'],
      tagged.split('\n').filter((image) => image.includes(':') && belongs(image.slice(image.lastIndexOf(':') + 1))),
    );
  }
  return removed;
}

/** A run this old is over even if it ran in another PID namespace, where its pid means nothing to us. */
const STALE_AFTER_MS = 30 * 60_000;

/** True for names of earlier runs that are over: their process is gone and they started long ago. */
export function isStaleRun(name: string): boolean {
  const match = new RegExp(`^${RUN_PREFIX}(\\d+)-([0-9a-z]+)`).exec(name);
  if (!match || Number(match[1]) === process.pid) return false;
  if (Date.now() - parseInt(match[2], 36) < STALE_AFTER_MS) return false;
  try {
    process.kill(Number(match[1]), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
