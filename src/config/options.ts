// The one table of command-line options. Parsing (kinds, choices, defaults,
// variable names), `--help` and the README's option list all come from it, so
// a flag cannot exist in one and not the others, and a default cannot say one
// thing in --help and do another (test/cli.test.ts parses every default shown).

export type OptionKind = 'string' | 'path' | 'paths' | 'duration' | 'port' | 'choice' | 'signals';

export interface OptionSpec {
  readonly flag: string;
  readonly kind: OptionKind;
  readonly metavar: string;
  readonly help: string;
  /** The default, as the user would write it; parsed like a given value. */
  readonly defaultValue?: string;
  /** A default that depends on other options, described for --help. */
  readonly defaultText?: string;
  /** Required for kind `choice`: the only accepted values. */
  readonly choices?: readonly string[];
}

export const OPTIONS = {
  name: {
    flag: '--name',
    kind: 'string',
    metavar: 'NAME',
    defaultValue: 'es',
    help: 'process name; the API lives under /NAME/...',
  },
  cmd: {
    flag: '--cmd',
    kind: 'path',
    metavar: 'PATH',
    help: 'executable to supervise (required), e.g. /usr/local/bin/docker-entrypoint.sh',
  },
  stopTimeout: {
    flag: '--stop-timeout',
    kind: 'duration',
    metavar: 'D',
    defaultValue: '5s',
    help: 'soft-stop wait before SIGKILL (API stop, restart)',
  },
  shutdownTimeout: {
    flag: '--shutdown-timeout',
    kind: 'duration',
    metavar: 'D',
    defaultValue: '25s',
    help: 'soft-stop wait when the manager itself is told to terminate',
  },
  stopScope: {
    flag: '--stop-scope',
    kind: 'choice',
    metavar: 'process|group',
    choices: ['process', 'group'],
    defaultValue: 'group',
    help: 'where SIGTERM goes; SIGKILL always goes to the group',
  },
  onExit: {
    flag: '--on-exit',
    kind: 'choice',
    metavar: 'exit|restart',
    choices: ['exit', 'restart'],
    defaultValue: 'exit',
    help: 'when the process dies unasked: exit with its status, or restart with back-off',
  },
  stateFile: {
    flag: '--state-file',
    kind: 'path',
    metavar: 'PATH',
    defaultText: '<dir of the executable>/<name>.state.json',
    help: 'persisted intent and last state',
  },
  socket: {
    flag: '--socket',
    kind: 'path',
    metavar: 'PATH',
    defaultText: '<dir of --state-file>/<name>.sock',
    help: 'Unix socket (mode 0600) serving the API without certificates; what `ctl` talks to',
  },
  httpHost: {
    flag: '--http-host',
    kind: 'string',
    metavar: 'H',
    defaultText: '127.0.0.1, or 0.0.0.0 with --tls-client-ca',
    help: 'API bind address',
  },
  httpPort: { flag: '--http-port', kind: 'port', metavar: 'N', defaultValue: '8080', help: 'API port' },
  tlsCert: {
    flag: '--tls-cert',
    kind: 'path',
    metavar: 'F',
    help: 'serve HTTPS with this certificate (re-read on change and SIGHUP)',
  },
  tlsKey: { flag: '--tls-key', kind: 'path', metavar: 'F', help: 'private key for --tls-cert' },
  tlsClientCa: {
    flag: '--tls-client-ca',
    kind: 'path',
    metavar: 'F',
    help: 'require client certificates signed by this CA (except the probes: GET /health, GET /NAME/ready)',
  },
  port: {
    flag: '--port',
    kind: 'port',
    metavar: 'N',
    defaultValue: '8001',
    help: 'cert initializer: port that serves the CSR',
  },
  privateKeyPath: {
    flag: '--private-key-path',
    kind: 'path',
    metavar: 'F',
    defaultValue: '/mnt/elastic/private-key/node.key',
    help: 'cert initializer: private key',
  },
  certPath: {
    flag: '--cert-path',
    kind: 'path',
    metavar: 'F',
    help: 'cert initializer: where the signed certificate appears; enables it',
  },
  csrPath: {
    flag: '--csr-path',
    kind: 'path',
    metavar: 'F',
    defaultText: '<dir of --cert-path>/csr.pem',
    help: 'cert initializer: where the CSR is written',
  },
  forwardSignals: {
    flag: '--forward-signals',
    kind: 'signals',
    metavar: 'LIST',
    defaultValue: 'QUIT',
    help: 'signals passed on to the main process (comma-separated, or none); USR1 and USR2 may kill a JVM. Every other signal is ignored',
  },
  readyCheck: {
    flag: '--ready-check',
    kind: 'string',
    metavar: 'http|tcp:PORT|none',
    defaultValue: 'http',
    help: "what GET /NAME/ready asks of a started process: GET / on ENDPOINT (the keystore updater's CA and credentials), a TCP connect to 127.0.0.1:PORT (ES readiness.port), or nothing",
  },
  readyTimeout: {
    flag: '--ready-timeout',
    kind: 'duration',
    metavar: 'D',
    defaultValue: '3s',
    help: 'how long one readiness check may take',
  },
  drainDelay: {
    flag: '--drain-delay',
    kind: 'duration',
    metavar: 'D',
    defaultValue: '0s',
    help: 'not ready this long before the SIGTERM of a stop, restart or shutdown (kill never waits)',
  },
  configPath: {
    flag: '--config-path',
    kind: 'paths',
    metavar: 'PATH',
    help: "file or directory ES's configuration comes from; its checksum is in GET /NAME/status and guards start?config=SHA (repeatable; env: separated by :)",
  },
  logLevel: {
    flag: '--log-level',
    kind: 'choice',
    metavar: 'L',
    choices: ['debug', 'info', 'warn', 'error'],
    defaultValue: 'info',
    help: 'debug, info, warn or error',
  },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** `--stop-timeout` ↔ `PM_STOP_TIMEOUT`. */
export function envNameOf(spec: OptionSpec): string {
  return 'PM_' + spec.flag.slice(2).replaceAll('-', '_').toUpperCase();
}

/**
 * Exit statuses of the manager itself (sysexits.h numbers, as the contract
 * says). The supervised process's own status is passed through as is.
 */
export const EXIT = {
  OK: 0,
  INTERNAL: 70,
  USAGE: 64,
  CONFIG: 78,
} as const;
