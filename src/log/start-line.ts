// The one `info` line at start that says what runs, so whoever reads the log
// after a restart knows the version, the command and every setting that
// shapes a stop, without the pod spec at hand.

import type { Config } from '../config/config.ts';
import type { Logger } from './logger.ts';

export interface StartFacts {
  /** The API's port as bound (port 0 asks the system for one). */
  readonly port: number;
  /** The Unix socket, when it could be served. */
  readonly socketPath: string | null;
  /** Who reaps orphans, as the PID-1 hand-off found it (handed in: pid1/ logs through this folder, not the other way). */
  readonly pid1Mode: string;
}

export function logManagerStart(log: Logger, version: string, config: Config, facts: StartFacts): void {
  log.info(`process-manager ${version} supervising ${config.cmd}`, {
    'event.action': 'manager-start',
    'service.version': version,
    'process.command_line': [config.cmd, ...config.args].join(' '),
    'process.name': config.name,
    'file.path': config.stateFile,
    stop_timeout_ms: config.stopTimeoutMs,
    shutdown_timeout_ms: config.shutdownTimeoutMs,
    drain_delay_ms: config.drainDelayMs,
    ready_check: config.readyCheck.kind === 'tcp' ? `tcp:${config.readyCheck.port}` : config.readyCheck.kind,
    config_paths: config.configPaths.length,
    stop_scope: config.stopScope,
    on_exit: config.onExit,
    pid1_mode: facts.pid1Mode,
    'server.address': config.httpHost,
    'server.port': facts.port,
    'url.scheme': config.tls ? 'https' : 'http',
    mutual_tls: !!config.tls?.clientCaFile,
    'socket.path': facts.socketPath,
  });
}
