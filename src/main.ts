// Wires the capabilities together. Each lives in its own folder; the few
// imports between them run one way and never back: the API drives the
// supervisor; the CSR port reuses the API's connection guard and error shape;
// cluster-restart reads ES's CA and password as the keystore updater does;
// the keystore CLI is started with the supervisor's scrubbed child
// environment and killed through its signal helper; and that environment
// drops what the PID-1 handoff added.
// Everything else a capability needs of another (is Elasticsearch running? is
// the certificate there?) is handed to it here as a function.
// What a manager may not need is imported where it is used (the other
// commands, the mounted config; keystore/ and certs/prepare.ts do the same):
// the bundle then evaluates it, and loads the Node modules it requires
// (node:crypto, node:https...), only then, not before /health can answer. The
// keystore updater and the cert initializer are on or off before the API
// listens, since /health shows them, but their work starts once it listens
// (issue 20).

import { createApi } from './api/app.ts';
import { serveUnixSocket, type UnixSocketServer } from './api/unix-socket.ts';
import { prepareCertInitializer } from './certs/prepare.ts';
import { createKeystoreUpdater } from './keystore/index.ts';
import { createEsCheck } from './readiness/es-check.ts';
import { createReadiness } from './readiness/readiness.ts';
import { serveApi, type ApiServer } from './api/server.ts';
import type { Config } from './config/config.ts';
import { configError, StartupError } from './config/errors.ts';
import { ctlHelpText } from './config/ctl-help.ts';
import { helpText, VERSION } from './config/help.ts';
import { EXIT } from './config/options.ts';
import { parseCommandLine } from './config/parse-command-line.ts';
import { createLogger, logRuntimeWarnings, type Logger } from './log/logger.ts';
import { createStdoutWriter, type StdoutWriter } from './log/stdout-writer.ts';
import { nameThisProcess } from './log/process-name.ts';
import { logManagerStart } from './log/start-line.ts';
import { handOverPid1, HELPER_VARIABLES, pid1Mode, tellHelperReady } from './pid1/handoff.ts';
import { THREADPOOL_MARKER } from './supervisor/child-env.ts';
import { handleManagerSignals } from './supervisor/manager-signals.ts';
import { acquireStateLock } from './supervisor/state-lock.ts';
import { createSupervisor } from './supervisor/supervisor.ts';

/** PM_ variables that are not options, so not the operator's typos: the PID-1 helper's and the build's thread-pool marker. */
const INTERNAL_VARIABLES = [...HELPER_VARIABLES, THREADPOOL_MARKER];

async function main(log: Logger, stdout: StdoutWriter): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), process.env, process.execPath, INTERNAL_VARIABLES);
  switch (command.kind) {
    case 'help':
      process.stdout.write(helpText());
      return EXIT.OK;
    case 'version':
      process.stdout.write(`process-manager ${VERSION}\n`);
      return EXIT.OK;
    case 'install': {
      const { installExecutable } = await import('./cli/install.ts');
      log.info(`installed ${await installExecutable(command.dir, command.owner, log)}`, { 'event.action': 'install' });
      return EXIT.OK;
    }
    case 'ctl':
      return (await import('./cli/ctl.ts')).runCtl(command.request);
    case 'ctl-help':
      process.stdout.write(ctlHelpText(command.action));
      return EXIT.OK;
    case 'cluster-restart':
      return (await import('./cluster-restart/index.ts')).runClusterRestart(command.argv, process.env);
    case 'config-checksum':
      return (await import('./mounted-config/checksum-command.ts')).printConfigChecksum(command.paths);
    case 'run':
      nameThisProcess();
      logRuntimeWarnings(log);
      log.setLevel(command.config.logLevel);
      await handOverPid1(log);
      // After the hand-off: the manager the helper starts says it, once.
      for (const warning of command.warnings) log.warn(warning, { 'event.action': 'config-warning' });
      return run(command.config, log, stdout);
  }
}

/** How long an exiting manager waits for its last state to reach the disk (a crash's exit status, for the next container). */
const STATE_FLUSH_MS = 5_000;

async function run(config: Config, log: Logger, stdout: StdoutWriter): Promise<number> {
  let exitWith: (status: number) => void = () => {};
  const exited = new Promise<number>((resolve) => (exitWith = resolve));

  // Before anything is written: a second manager on this state file exits here (78), having changed nothing.
  await acquireStateLock(config.stateFile);
  const supervisor = createSupervisor(config, { log, onExitRequested: exitWith });
  const shouldStart = supervisor.restoreFromStateFile();
  // Before anything that takes time: a default SIGHUP or SIGTERM would kill the manager outright.
  let server: ApiServer | undefined;
  handleManagerSignals(
    {
      terminate: () => void supervisor.shutdown().then(exitWith),
      terminateNow: () => supervisor.killNow(),
      reloadTls: () => server?.reloadTls(),
      forward: (signal) => supervisor.forwardSignal(signal),
    },
    config.forwardSignals,
    log,
  );
  tellHelperReady(log);
  const keystore = await createKeystoreUpdater(config.keystore, {
    log,
    isProcessStarted: () => supervisor.status().state === 'started',
  });
  const certs = config.certInitializer && prepareCertInitializer(config.certInitializer, { log });
  if (certs) supervisor.holdStartsWhile(() => certs.blockedReason());
  const mountedConfig =
    config.configPaths.length > 0
      ? await (await import('./mounted-config/mounted-config.ts')).createMountedConfig(config.configPaths, log)
      : undefined;
  const readiness = createReadiness({
    name: config.name,
    supervisor,
    log,
    check: createEsCheck(config.readyCheck, config.keystore, config.readyTimeoutMs),
  });
  const app = createApi({
    name: config.name,
    supervisor,
    log,
    keystoreStatus: keystore?.status,
    keystoreMetrics: keystore?.metrics,
    certificatesStatus: certs?.status,
    requireClientCertificates: !!config.tls?.clientCaFile,
    logLinesDropped: stdout.droppedLines,
    readiness,
    mountedConfig,
  });
  server = await serveApi(app, { host: config.httpHost, port: config.httpPort, tls: config.tls }, log).catch(
    (error: Error) => {
      if (error instanceof StartupError) throw error; // unusable TLS files: it names their flag
      throw configError(
        `--http-host ${config.httpHost} --http-port ${config.httpPort}: cannot listen: ${error.message}`,
      );
    },
  );
  // Sure to run now: a manager that failed on its port has left the state file as it found it.
  supervisor.takeOverStateFile();
  // /health answers: now what it does not need to answer, which the boot below waits for.
  keystore?.start();
  certs?.start();
  const socket: UnixSocketServer | undefined = await serveUnixSocket(app, config.socketPath, log);
  logManagerStart(log, VERSION, config, {
    port: server.port,
    socketPath: socket ? config.socketPath : null,
    pid1Mode: pid1Mode(),
  });

  // Elasticsearch boots with its certificate and the right keystore, or not at all.
  const boot = async (): Promise<void> => {
    await certs?.ready;
    await keystore?.firstSync();
    if (shouldStart) await supervisor.start('boot');
  };
  void boot().catch((error: Error) => {
    if (error instanceof StartupError) {
      log.error(error.message, { 'event.action': 'boot' });
      exitWith(error.exitCode);
    } else log.warn(`not started at boot: ${error.message}`, { 'event.action': 'boot' });
  });

  const status = await exited;
  const [isStateSaved] = await Promise.all([
    supervisor.flushState(STATE_FLUSH_MS),
    server.close(),
    socket?.close(),
    keystore?.close(),
    certs?.close(),
    mountedConfig?.close(),
    readiness.close(),
  ]);
  if (!isStateSaved)
    log.error(
      `exiting before the last state reached the state file (${supervisor.stateFileError() ?? 'still being written'})`,
      { 'event.action': 'state-file', 'file.path': config.stateFile },
    );
  log.info(`exiting with status ${status}`, { 'event.action': 'manager-exit', 'process.exit_code': status });
  return status;
}

const stdout = createStdoutWriter();
const log = createLogger(stdout.write);
stdout.onRecovered((dropped) =>
  log.warn(`${dropped} log lines were dropped: stdout was full (its reader stalled)`, {
    'event.action': 'log-lines-dropped',
    'log.dropped_lines': dropped,
  }),
);
process.on('uncaughtException', (error) => {
  log.error(`internal error: ${error.stack ?? String(error)}`, {
    'event.action': 'internal-error',
    'process.exit_code': EXIT.INTERNAL,
  });
  process.exit(EXIT.INTERNAL);
});
main(log, stdout).then(
  (status) => process.exit(status),
  (error: unknown) => {
    // ctl is a tool for a terminal, not the manager: its usage errors are plain text.
    if (error instanceof StartupError && process.argv[2] === 'ctl') {
      process.stderr.write(`process-manager ${error.message}\n`);
      process.exit(error.exitCode);
    }
    // JSON like every other line: this one says why the container died.
    if (error instanceof StartupError) {
      log.error(error.message, { 'event.action': 'startup-error', 'process.exit_code': error.exitCode });
      process.exit(error.exitCode);
    }
    log.error(`internal error: ${(error as Error).stack ?? String(error)}`, {
      'event.action': 'internal-error',
      'process.exit_code': EXIT.INTERNAL,
    });
    process.exit(EXIT.INTERNAL);
  },
);
