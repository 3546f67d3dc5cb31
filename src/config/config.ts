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

export interface Config {
  readonly name: string;
  readonly cmd: string;
  readonly args: readonly string[];
  readonly stopTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly stopScope: StopScope;
  readonly onExit: OnExit;
  readonly stateFile: string;
  readonly httpHost: string;
  readonly httpPort: number;
  readonly tls?: TlsConfig;
  readonly certInitializer?: CertInitializerConfig;
  readonly logLevel: LogLevel;
  readonly keystore: KeystoreConfig;
}

export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'install'; readonly dir: string }
  | { readonly kind: 'run'; readonly config: Config };
