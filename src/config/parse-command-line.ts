import path from 'node:path';
import type { Command, Config, KeystoreConfig, LogLevel, OnExit, StopScope } from './config.ts';
import { configError, usageError } from './errors.ts';
import { KEYSTORE_VARIABLES, type KeystoreVariable } from './keystore-env.ts';
import { envNameOf, OPTIONS, type OptionName, type OptionSpec } from './options.ts';
import { parseBoolean, parseChoice, parseDuration, parsePort, type Parsed } from './values.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Names that would shadow the manager's own routes. */
const RESERVED_NAMES = ['health', 'keystore', 'metrics'];
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const OPTION_BY_FLAG = new Map<string, OptionName>(
  (Object.entries(OPTIONS) as [OptionName, OptionSpec][]).map(([name, spec]) => [spec.flag, name]),
);

/**
 * Reads argv (without the executable) and the environment. Throws a
 * StartupError: exit 64 when the command line cannot be understood, 78 when a
 * value is wrong.
 */
export function parseCommandLine(argv: readonly string[], env: Env, executablePath: string): Command {
  if (argv[0] === 'install') {
    if (argv.length !== 2 || argv[1] === '') throw usageError('install takes exactly one argument: the directory to copy the executable into');
    return { kind: 'install', dir: argv[1] };
  }
  const flags = new Map<OptionName, string>();
  let args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') {
      args = argv.slice(i + 1);
      break;
    }
    if (word === '--help' || word === '-h') return { kind: 'help' };
    if (word === '--version' || word === '-V') return { kind: 'version' };
    if (!word.startsWith('--')) throw usageError(`unexpected argument '${word}'; arguments for the process go after '--'`);
    const equals = word.indexOf('=');
    const flag = equals === -1 ? word : word.slice(0, equals);
    const option = OPTION_BY_FLAG.get(flag);
    if (!option) throw usageError(`unknown option '${flag}'; see --help`);
    const value = equals === -1 ? argv[++i] : word.slice(equals + 1);
    if (value === undefined) throw usageError(`option ${flag} needs a value (${OPTIONS[option].metavar})`);
    flags.set(option, value);
  }
  return { kind: 'run', config: buildConfig(flags, args, env, executablePath) };
}

function buildConfig(flags: Map<OptionName, string>, args: string[], env: Env, executablePath: string): Config {
  // The flag wins over PM_<NAME>; the message names whichever was used.
  const raw = (option: OptionName): { value: string; source: string } | undefined => {
    const spec: OptionSpec = OPTIONS[option];
    const flagValue = flags.get(option);
    if (flagValue !== undefined) return { value: flagValue, source: spec.flag };
    const envName = envNameOf(spec);
    const envValue = env[envName];
    return envValue !== undefined && envValue !== '' ? { value: envValue, source: envName } : undefined;
  };
  const read = <T>(option: OptionName, parse: (text: string) => Parsed<T>, fallback: T): T => {
    const given = raw(option);
    if (!given) return fallback;
    const parsed = parse(given.value);
    if (!parsed.ok) throw configError(`${given.source}: '${given.value}' is not ${parsed.expected}`);
    return parsed.value;
  };
  const text = (option: OptionName): string | undefined => raw(option)?.value;
  const anyText = (value: string): Parsed<string> => ({ ok: true, value });

  const cmd = text('cmd');
  if (!cmd) throw usageError(`no process to supervise: give ${OPTIONS.cmd.flag} PATH or ${envNameOf(OPTIONS.cmd)}`);

  const name = read('name', anyText, 'es');
  if (!NAME_PATTERN.test(name) || RESERVED_NAMES.includes(name)) {
    throw configError(`${raw('name')?.source}: '${name}' must be 1-64 of A-Z a-z 0-9 _ . - and not one of ${RESERVED_NAMES.join(', ')}`);
  }

  const tls = readTls(raw);
  const certPath = text('certPath');
  const config: Config = {
    name,
    cmd,
    args,
    stopTimeoutMs: read('stopTimeout', parseDuration, 5_000),
    shutdownTimeoutMs: read('shutdownTimeout', parseDuration, 25_000),
    stopScope: read('stopScope', (t) => parseChoice<StopScope>(t, ['process', 'group']), 'group'),
    onExit: read('onExit', (t) => parseChoice<OnExit>(t, ['exit', 'restart']), 'exit'),
    stateFile: path.resolve(text('stateFile') ?? path.join(path.dirname(executablePath), `${name}.state.json`)),
    httpHost: text('httpHost') ?? (tls?.clientCaFile ? '0.0.0.0' : '127.0.0.1'),
    httpPort: read('httpPort', parsePort, 8080),
    tls,
    certInitializer: certPath
      ? {
          port: read('port', parsePort, 8001),
          privateKeyPath: path.resolve(text('privateKeyPath') ?? '/mnt/elastic/private-key/node.key'),
          certPath: path.resolve(certPath),
          csrPath: path.resolve(text('csrPath') ?? path.join(path.dirname(certPath), 'csr.pem')),
        }
      : undefined,
    logLevel: read('logLevel', (t) => parseChoice<LogLevel>(t, ['debug', 'info', 'warn', 'error']), 'info'),
    keystore: readKeystoreConfig(env),
  };
  if (config.certInitializer && config.certInitializer.port === config.httpPort && config.httpPort !== 0) {
    throw configError(`${OPTIONS.port.flag} and ${OPTIONS.httpPort.flag} are both ${config.httpPort}; the CSR port must differ from the API port`);
  }
  return config;
}

function readTls(raw: (option: OptionName) => { value: string; source: string } | undefined): Config['tls'] {
  const cert = raw('tlsCert');
  const key = raw('tlsKey');
  const clientCa = raw('tlsClientCa');
  if (!cert && !key) {
    if (clientCa) throw configError(`${clientCa.source} needs ${OPTIONS.tlsCert.flag} and ${OPTIONS.tlsKey.flag}: client certificates only exist over HTTPS`);
    return undefined;
  }
  if (!cert) throw configError(`${key?.source} is set but ${OPTIONS.tlsCert.flag} is not; give both`);
  if (!key) throw configError(`${cert.source} is set but ${OPTIONS.tlsKey.flag} is not; give both`);
  return { certFile: path.resolve(cert.value), keyFile: path.resolve(key.value), clientCaFile: clientCa && path.resolve(clientCa.value) };
}

function readKeystoreConfig(env: Env): KeystoreConfig {
  const lookup = (variable: KeystoreVariable): { value: string; source: string } | undefined => {
    for (const name of variable.alias ? [variable.name, variable.alias] : [variable.name]) {
      const value = env[name];
      if (value !== undefined && value !== '') return { value, source: name };
    }
    return undefined;
  };
  const value = (variable: KeystoreVariable): string | undefined => lookup(variable)?.value ?? variable.defaultValue;

  const mode = lookup(KEYSTORE_VARIABLES.enabled);
  const parsedMode = parseChoice(mode?.value ?? 'auto', ['auto', 'true', 'false'] as const);
  if (!parsedMode.ok) throw configError(`${mode?.source}: '${mode?.value}' is not ${parsedMode.expected}`);
  const reload = lookup(KEYSTORE_VARIABLES.reloadCredentials);
  const parsedReload = parseBoolean(reload?.value ?? 'false');
  if (!parsedReload.ok) throw configError(`${reload?.source}: '${reload?.value}' is not ${parsedReload.expected}`);
  const endpoint = lookup(KEYSTORE_VARIABLES.endpoint);
  if (endpoint && (!/^https?:\/\/[^/]+/.test(endpoint.value) || !URL.canParse(endpoint.value))) {
    throw configError(`${endpoint.source}: '${endpoint.value}' is not an http:// or https:// URL`);
  }

  return {
    mode: parsedMode.value,
    sourceDir: path.resolve(value(KEYSTORE_VARIABLES.sourceDir) as string),
    binary: value(KEYSTORE_VARIABLES.binary) as string,
    keystorePath: path.resolve(value(KEYSTORE_VARIABLES.keystorePath) as string),
    reload: parsedReload.value,
    username: value(KEYSTORE_VARIABLES.username),
    password: value(KEYSTORE_VARIABLES.password),
    passwordFile: value(KEYSTORE_VARIABLES.passwordFile),
    certificatesPath: path.resolve(value(KEYSTORE_VARIABLES.certificatesPath) as string),
    endpoint: (value(KEYSTORE_VARIABLES.endpoint) as string).replace(/\/+$/, ''),
    keystorePassword: value(KEYSTORE_VARIABLES.keystorePassword),
    keystorePasswordFile: value(KEYSTORE_VARIABLES.keystorePasswordFile),
  };
}
