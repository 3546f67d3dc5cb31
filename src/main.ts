// Wires the capabilities together. Each lives in its own folder; the few
// imports between them run one way and never back: the API drives the
// supervisor, the keystore CLI is started with the supervisor's scrubbed child
// environment, and that environment drops what the PID-1 handoff added.
// Everything else a capability needs of another (is Elasticsearch running? is
// the certificate there?) is handed to it here as a function.

import { createApi } from './api/app.ts';
import { createCertInitializer } from './certs/index.ts';
import { createKeystoreUpdater } from './keystore/index.ts';
import { serveApi, type ApiServer } from './api/server.ts';
import { installExecutable } from './cli/install.ts';
import type { Config } from './config/config.ts';
import { configError, StartupError } from './config/errors.ts';
import { helpText, VERSION } from './config/help.ts';
import { EXIT } from './config/options.ts';
import { parseCommandLine } from './config/parse-command-line.ts';
import { createLogger, type Logger } from './log/logger.ts';
import { handOverPid1 } from './pid1/handoff.ts';
import { handleManagerSignals } from './supervisor/manager-signals.ts';
import { createSupervisor } from './supervisor/supervisor.ts';

async function main(log: Logger): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), process.env, process.execPath);
  switch (command.kind) {
    case 'help':
      process.stdout.write(helpText());
      return EXIT.OK;
    case 'version':
      process.stdout.write(`process-manager ${VERSION}\n`);
      return EXIT.OK;
    case 'install':
      log.info(`installed ${await installExecutable(command.dir)}`, { 'event.action': 'install' });
      return EXIT.OK;
    case 'run':
      log.setLevel(command.config.logLevel);
      await handOverPid1(log);
      return run(command.config, log);
  }
}

async function run(config: Config, log: Logger): Promise<number> {
  let exitWith: (status: number) => void = () => {};
  const exited = new Promise<number>((resolve) => (exitWith = resolve));

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
    log,
  );
  const keystore = await createKeystoreUpdater(config.keystore, { log, isProcessStarted: () => supervisor.status().state === 'started' });
  const certs = config.certInitializer && (await createCertInitializer(config.certInitializer, { log }));
  if (certs) supervisor.holdStartsWhile(() => certs.blockedReason());
  const app = createApi({
    name: config.name,
    supervisor,
    log,
    keystoreStatus: keystore?.status,
    keystoreMetrics: keystore?.metrics,
    certificatesStatus: certs?.status,
    requireClientCertificates: !!config.tls?.clientCaFile,
  });
  server = await serveApi(app, { host: config.httpHost, port: config.httpPort, tls: config.tls }, log).catch((error: Error) => {
    throw configError(`--http-host ${config.httpHost} --http-port ${config.httpPort}: cannot listen: ${error.message}`);
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
  await Promise.all([server.close(), keystore?.close(), certs?.close()]);
  log.info(`exiting with status ${status}`, { 'event.action': 'manager-exit', 'process.exit_code': status });
  return status;
}

const log = createLogger();
main(log).then(
  (status) => process.exit(status),
  (error: unknown) => {
    if (error instanceof StartupError) {
      process.stderr.write(`process-manager: ${error.message}\n`);
      process.exit(error.exitCode);
    }
    log.error(`internal error: ${(error as Error).stack ?? String(error)}`, { 'event.action': 'internal-error' });
    process.exit(EXIT.INTERNAL);
  },
);
