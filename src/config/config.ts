// The validated configuration every capability receives. Only
// parse-command-line.ts builds it.

export type StopScope = 'process' | 'group';
export type OnExit = 'exit' | 'restart';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** Set: every route but GET /health needs a client certificate signed by it. */
  readonly clientCaFile?: string;
}

export interface CertInitializerConfig {
  readonly port: number;
  readonly privateKeyPath: string;
  readonly certPath: string;
  readonly csrPath: string;
}

export interface KeystoreConfig {
  /** `auto`: run when sourceDir exists at start. */
  readonly mode: 'auto' | 'true' | 'false';
  readonly sourceDir: string;
  readonly binary: string;
  readonly keystorePath: string;
  readonly reload: boolean;
  readonly username?: string;
  readonly password?: string;
  readonly passwordFile?: string;
  readonly certificatesPath: string;
  readonly endpoint: string;
  readonly keystorePassword?: string;
  readonly keystorePasswordFile?: string;
}

/** What GET /NAME/ready asks of a started process. */
export type ReadyCheck =
  | { readonly kind: 'http' }
  | { readonly kind: 'tcp'; readonly port: number }
  | { readonly kind: 'none' };

export interface Config {
  readonly name: string;
  readonly cmd: string;
  readonly args: readonly string[];
  readonly stopTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly stopScope: StopScope;
  readonly onExit: OnExit;
  readonly stateFile: string;
  /** Serves the API to `ctl`, without client certificates; mode 0600. */
  readonly socketPath: string;
  readonly httpHost: string;
  readonly httpPort: number;
  readonly tls?: TlsConfig;
  readonly certInitializer?: CertInitializerConfig;
  /** Passed on to the main process; every other signal but TERM, INT and HUP is ignored. */
  readonly forwardSignals: readonly NodeJS.Signals[];
  readonly logLevel: LogLevel;
  readonly keystore: KeystoreConfig;
  readonly readyCheck: ReadyCheck;
  readonly readyTimeoutMs: number;
  /** Not ready this long before the SIGTERM of a stop, restart or shutdown. */
  readonly drainDelayMs: number;
  /** Where ES's configuration is mounted; empty: no checksum. */
  readonly configPaths: readonly string[];
}

export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'install'; readonly dir: string; readonly owner: Owner | null }
  | { readonly kind: 'config-checksum'; readonly paths: readonly string[] }
  | { readonly kind: 'ctl'; readonly request: CtlRequest }
  /** `ctl --help`, or `ctl COMMAND --help` (action set). */
  | { readonly kind: 'ctl-help'; readonly action?: CtlAction }
  /** Its options are its own (src/cluster-restart/options.ts): handed over unread. */
  | { readonly kind: 'cluster-restart'; readonly argv: readonly string[] }
  /** warnings: what was set but means nothing (an unknown PM_ variable), for the log. */
  | { readonly kind: 'run'; readonly config: Config; readonly warnings: readonly string[] };

/** Who gets the install directory: the user Elasticsearch runs as, so the state file and the socket can be made there. */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export const CTL_ACTIONS = [
  'status',
  'start',
  'stop',
  'restart',
  'kill',
  'health',
  'wait',
  'signal',
  'keystore',
  'metrics',
] as const;
export type CtlAction = (typeof CTL_ACTIONS)[number];

/** What `ctl wait` waits for. */
export const WAIT_TARGETS = ['started', 'stopped', 'ready'] as const;
export type WaitTarget = (typeof WAIT_TARGETS)[number];

/** What `process-manager ctl` asks, and of which manager. */
export interface CtlRequest {
  readonly action: CtlAction;
  readonly isJson: boolean;
  readonly name: string;
  readonly socketPath: string;
  /** `start|restart --config SHA`: only when the mounted configuration has this checksum. */
  readonly configSha?: string;
  /** `wait TARGET [--timeout D]`. */
  readonly wait?: { readonly target: WaitTarget; readonly timeoutMs: number };
  /** `signal SIG`: the name as given; the manager decides whether it may be sent. */
  readonly signal?: string;
}
