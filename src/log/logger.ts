// One JSON object per line on stdout with Elastic Common Schema field names,
// so the manager's lines sit beside Elasticsearch's own JSON logs and are
// parsed by the same pipeline.

import type { LogLevel } from '../config/config.ts';

export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  setLevel(level: LogLevel): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const ECS_VERSION = '1.6.0';

/** write takes whole lines; main.ts passes the stdout writer (stdout-writer.ts), tests a recorder. */
export function createLogger(write: (line: string) => void): Logger {
  let threshold = RANK.info;
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (RANK[level] < threshold) return;
    const record = {
      '@timestamp': new Date().toISOString(),
      'log.level': level,
      message,
      'ecs.version': ECS_VERSION,
      'service.name': 'process-manager',
      ...fields,
    };
    write(JSON.stringify(record) + '\n');
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    setLevel: (level) => {
      threshold = RANK[level];
    },
  };
}

/** The runtime's own warnings (TimeoutOverflowWarning, deprecations) as log lines, not plain text on stderr. */
export function logRuntimeWarnings(log: Logger): void {
  // Node's default listener prints them on stderr; it is the only other one.
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => {
    log.warn(`${warning.name}: ${warning.message}`, {
      'event.action': 'runtime-warning',
      'error.type': warning.name,
      'error.code': warning.code,
    });
  });
}
