import path from 'node:path';
import {
  CTL_ACTIONS,
  WAIT_TARGETS,
  type Command,
  type Owner,
  type Config,
  type CtlAction,
  type CtlRequest,
  type KeystoreConfig,
} from './config.ts';
import { DEFAULT_WAIT_TIMEOUT } from './ctl-help.ts';
import { configError, usageError } from './errors.ts';
import { KEYSTORE_VARIABLES, type KeystoreVariable } from './keystore-env.ts';
import { envNameOf, OPTIONS, type OptionName, type OptionSpec } from './options.ts';
import { parseSignalList } from './signals.ts';
import { parseBoolean, parseChoice, parseDuration, parsePort, type Parsed } from './values.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Names that would shadow the manager's own routes. */
const RESERVED_NAMES = ['health', 'keystore', 'metrics'];
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const OPTION_BY_FLAG = new Map<string, OptionName>(
  (Object.entries(OPTIONS) as [OptionName, OptionSpec][]).map(([name, spec]) => [spec.flag, name]),
);
const OPTION_VARIABLES = new Set(Object.values(OPTIONS as Record<string, OptionSpec>).map(envNameOf));

type Spec<O extends OptionName> = (typeof OPTIONS)[O];
/** What each option parses to: its choices for a choice, a number for durations (ms) and ports. */
type ValueOf<O extends OptionName> =
  Spec<O> extends { readonly choices: readonly (infer C)[] }
    ? C
    : Spec<O>['kind'] extends 'duration' | 'port'
      ? number
      : Spec<O>['kind'] extends 'signals'
        ? readonly NodeJS.Signals[]
        : Spec<O>['kind'] extends 'paths'
          ? readonly string[]
          : string;

interface Given {
  readonly value: string;
  readonly source: string;
}

/** Separates the values of a repeated `paths` flag: the one byte no argument can hold. */
const REPEAT_SEPARATOR = '\0';

/** The parser behind each kind; paths are made absolute so a later chdir cannot move them. */
function parseAs(
  spec: OptionSpec,
  text: string,
): Parsed<string | number | readonly string[] | readonly NodeJS.Signals[]> {
  switch (spec.kind) {
    case 'duration':
      return parseDuration(text);
    case 'port':
      return parsePort(text);
    case 'choice':
      return parseChoice(text, spec.choices ?? []);
    case 'path':
      return { ok: true, value: path.resolve(text) };
    case 'paths': {
      const parts = text.split(REPEAT_SEPARATOR);
      if (parts.some((part) => part === '')) return { ok: false, expected: 'a list of non-empty paths' };
      return { ok: true, value: parts.map((part) => path.resolve(part)) };
    }
    case 'string':
      return { ok: true, value: text };
    case 'signals':
      return parseSignalList(text);
  }
}

/**
 * Reads argv (without the executable) and the environment. Throws a
 * StartupError: exit 64 when the command line cannot be understood, 78 when a
 * value is wrong. `internalVariables` are PM_ names the manager sets for
 * itself (the PID-1 hand-off), not reported as unknown.
 */
export function parseCommandLine(
  argv: readonly string[],
  env: Env,
  executablePath: string,
  internalVariables: readonly string[] = [],
): Command {
  if (argv[0] === 'install') return parseInstall(argv.slice(1));
  if (argv[0] === 'cluster-restart') return { kind: 'cluster-restart', argv: argv.slice(1) };
  if (argv[0] === 'ctl') return parseCtl(argv.slice(1), env, executablePath);
  if (argv[0] === 'config-checksum') {
    if (argv.length < 2 || argv.slice(1).some((word) => word === ''))
      throw usageError('config-checksum takes one or more paths: the files or directories to checksum, in order');
    return { kind: 'config-checksum', paths: argv.slice(1).map((word) => path.resolve(word)) };
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
    if (!word.startsWith('--')) throw usageError(unexpectedArgument(word));
    i = readFlag(argv, i, flags);
  }
  const config = buildConfig(readerOf(flags, env), args, env, executablePath);
  return { kind: 'run', config, warnings: [...graceWarnings(config), ...unknownVariables(env, internalVariables)] };
}

/** The official Elasticsearch images run ES as uid 1000, group 0. */
const DEFAULT_INSTALL_OWNER = '1000:0';

/** `install DIR [--owner UID[:GID]|none]`. */
function parseInstall(words: readonly string[]): Command {
  const dirs: string[] = [];
  let owner = DEFAULT_INSTALL_OWNER;
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (word === '--owner' || word.startsWith('--owner=')) {
      const value = word === '--owner' ? words[++i] : word.slice('--owner='.length);
      if (value === undefined) throw usageError('option --owner needs a value (UID[:GID] or none)');
      owner = value;
    } else if (word.startsWith('--'))
      throw usageError(`unknown option '${word}' for install; it takes DIR and --owner UID[:GID]|none`);
    else dirs.push(word);
  }
  if (dirs.length !== 1 || dirs[0] === '')
    throw usageError('install takes exactly one argument: the directory to copy the executable into');
  return { kind: 'install', dir: dirs[0], owner: parseOwner(owner) };
}

function parseOwner(value: string): Owner | null {
  if (value === 'none') return null;
  const match = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(value);
  const [uid, gid] = [Number(match?.[1]), Number(match?.[2] ?? match?.[1])];
  if (!match || uid > 0xfffffffe || gid > 0xfffffffe)
    throw configError(`--owner: '${value}' is not UID[:GID] (numbers, e.g. 1000:0) or none`);
  return { uid, gid };
}

/** A ctl command typed without `ctl` gets pointed at it; anything else is taken for a process argument. */
function unexpectedArgument(word: string): string {
  if ((CTL_ACTIONS as readonly string[]).includes(word))
    return `unexpected argument '${word}'; to talk to the running manager, run: process-manager ctl ${word}`;
  return `unexpected argument '${word}'; arguments for the process go after '--'`;
}

/** Stores the option at argv[i] (`--flag value` or `--flag=value`); returns the index of the last word used. */
function readFlag(argv: readonly string[], i: number, flags: Map<OptionName, string>): number {
  const word = argv[i];
  const equals = word.indexOf('=');
  const flag = equals === -1 ? word : word.slice(0, equals);
  const option = OPTION_BY_FLAG.get(flag);
  if (!option) throw usageError(`unknown option '${flag}'; see --help`);
  const value = equals === -1 ? argv[i + 1] : word.slice(equals + 1);
  if (value === undefined) throw usageError(`option ${flag} needs a value (${OPTIONS[option].metavar})`);
  const earlier = flags.get(option);
  // A repeatable flag adds to its earlier values; any other one given twice: the last wins.
  flags.set(
    option,
    OPTIONS[option].kind === 'paths' && earlier !== undefined ? earlier + REPEAT_SEPARATOR + value : value,
  );
  return equals === -1 ? i + 1 : i;
}

type Reader = {
  /** The flag, else PM_<NAME>, else nothing; says which was used. */
  raw(option: OptionName): Given | undefined;
  /** Parsed by the option's kind, falling back to its default; undefined when neither exists. */
  value<O extends OptionName>(option: O): ValueOf<O> | undefined;
};

function readerOf(flags: Map<OptionName, string>, env: Env): Reader {
  const raw = (option: OptionName): Given | undefined => {
    const spec: OptionSpec = OPTIONS[option];
    const flagValue = flags.get(option);
    if (flagValue !== undefined) return { value: flagValue, source: spec.flag };
    const envName = envNameOf(spec);
    const envValue = env[envName];
    if (envValue === undefined || envValue === '') return undefined;
    // A list in one variable is written as PATH is: separated by colons.
    return { value: spec.kind === 'paths' ? envValue.split(':').join(REPEAT_SEPARATOR) : envValue, source: envName };
  };
  const value = <O extends OptionName>(option: O): ValueOf<O> | undefined => {
    const spec: OptionSpec = OPTIONS[option];
    const given =
      raw(option) ??
      (spec.defaultValue !== undefined
        ? { value: spec.defaultValue, source: `the default of ${spec.flag}` }
        : undefined);
    if (!given) return undefined;
    const parsed = parseAs(spec, given.value);
    if (!parsed.ok) throw configError(`${given.source}: '${given.value}' is not ${parsed.expected}`);
    return parsed.value as ValueOf<O>;
  };
  return { raw, value };
}

function checkedName(read: Reader): string {
  const name = read.value('name') as string;
  if (!NAME_PATTERN.test(name) || RESERVED_NAMES.includes(name)) {
    throw configError(
      `${read.raw('name')?.source}: '${name}' must be 1-64 of A-Z a-z 0-9 _ . - and not one of ${RESERVED_NAMES.join(', ')}`,
    );
  }
  return name;
}

/** The state file and the socket beside it, as the manager and `ctl` both work them out. */
function placesOf(read: Reader, name: string, executablePath: string): { stateFile: string; socketPath: string } {
  const stateFile =
    read.value('stateFile') ?? path.join(path.dirname(path.resolve(executablePath)), `${name}.state.json`);
  return { stateFile, socketPath: read.value('socket') ?? path.join(path.dirname(stateFile), `${name}.sock`) };
}

function buildConfig(read: Reader, args: string[], env: Env, executablePath: string): Config {
  const cmd = read.raw('cmd')?.value;
  if (!cmd) throw usageError(`no process to supervise: give ${OPTIONS.cmd.flag} PATH or ${envNameOf(OPTIONS.cmd)}`);
  const name = checkedName(read);
  const tls = readTls(read);
  const certPath = read.value('certPath');
  const config: Config = {
    name,
    cmd,
    args,
    stopTimeoutMs: read.value('stopTimeout') as number,
    shutdownTimeoutMs: read.value('shutdownTimeout') as number,
    stopScope: read.value('stopScope') as Config['stopScope'],
    onExit: read.value('onExit') as Config['onExit'],
    ...placesOf(read, name, executablePath),
    httpHost: read.value('httpHost') ?? (tls?.clientCaFile ? '0.0.0.0' : '127.0.0.1'),
    httpPort: read.value('httpPort') as number,
    tls,
    certInitializer: certPath
      ? {
          port: read.value('port') as number,
          privateKeyPath: read.value('privateKeyPath') as string,
          certPath,
          csrPath: read.value('csrPath') ?? path.join(path.dirname(certPath), 'csr.pem'),
        }
      : undefined,
    forwardSignals: read.value('forwardSignals') as Config['forwardSignals'],
    logLevel: read.value('logLevel') as Config['logLevel'],
    keystore: readKeystoreConfig(env),
    readyCheck: readReadyCheck(read),
    readyTimeoutMs: read.value('readyTimeout') as number,
    drainDelayMs: read.value('drainDelay') as number,
    configPaths: read.value('configPath') ?? [],
  };
  if (config.readyTimeoutMs === 0)
    throw configError(`${read.raw('readyTimeout')?.source}: a readiness check needs more than 0 s`);
  if (config.certInitializer && config.certInitializer.port === config.httpPort && config.httpPort !== 0) {
    throw configError(
      `${OPTIONS.port.flag} and ${OPTIONS.httpPort.flag} are both ${config.httpPort}; the CSR port must differ from the API port`,
    );
  }
  return config;
}

/** `http`, `tcp:PORT` (ES 8.2+'s readiness.port) or `none`. */
function readReadyCheck(read: Reader): Config['readyCheck'] {
  const text = read.value('readyCheck') as string;
  if (text === 'http' || text === 'none') return { kind: text };
  const port = /^tcp:(\d{1,5})$/.exec(text);
  if (port && Number(port[1]) >= 1 && Number(port[1]) <= 65535) return { kind: 'tcp', port: Number(port[1]) };
  const source = read.raw('readyCheck')?.source ?? OPTIONS.readyCheck.flag;
  throw configError(`${source}: '${text}' is not http, none or tcp:PORT with a port from 1 to 65535`);
}

/** `ctl [--json] [options] COMMAND [ARG]`: the options only serve to find the manager, as the manager itself found its socket. */
function parseCtl(argv: readonly string[], env: Env, executablePath: string): Command {
  const flags = new Map<OptionName, string>();
  let isJson = false;
  let isHelp = false;
  let configSha: string | undefined;
  let timeout: string | undefined;
  const words: string[] = [];
  /** `--flag value` or `--flag=value` of ctl's own flags; undefined when argv[i] is not `flag`. */
  const ownValue = (i: number, flag: string): { value: string | undefined; next: number } | undefined => {
    if (argv[i] === flag) return { value: argv[i + 1], next: i + 1 };
    if (argv[i].startsWith(`${flag}=`)) return { value: argv[i].slice(flag.length + 1), next: i };
    return undefined;
  };
  for (let i = 0; i < argv.length; i++) {
    const config = ownValue(i, '--config');
    const wait = ownValue(i, '--timeout');
    if (argv[i] === '--json') isJson = true;
    else if (argv[i] === '--help' || argv[i] === '-h') isHelp = true;
    else if (config) {
      configSha = config.value;
      if (!configSha) throw usageError('ctl: --config needs a value (the sha256 the mounted configuration must have)');
      i = config.next;
    } else if (wait) {
      timeout = wait.value;
      if (!timeout) throw usageError('ctl: --timeout needs a value (a duration such as 30s or 5m)');
      i = wait.next;
    } else if (argv[i].startsWith('--')) {
      const flag = argv[i].split('=', 1)[0];
      if (!OPTION_BY_FLAG.has(flag)) throw usageError(`ctl: unknown option '${flag}'; see process-manager ctl --help`);
      i = readFlag(argv, i, flags);
    } else words.push(argv[i]);
  }
  const action = CTL_ACTIONS.find((a) => a === words[0]);
  if (isHelp) return { kind: 'ctl-help', action };
  const seeHelp = 'see process-manager ctl --help';
  if (words.length === 0) throw usageError(`ctl needs a command: ${CTL_ACTIONS.join(', ')}; ${seeHelp}`);
  if (!action)
    throw usageError(`ctl: unknown command '${words[0]}'; expected one of ${CTL_ACTIONS.join(', ')}; ${seeHelp}`);
  const commandHelp = `see process-manager ctl ${action} --help`;
  const takesArgument = action === 'wait' || action === 'signal';
  if (words.length !== (takesArgument ? 2 : 1)) {
    throw usageError(
      takesArgument
        ? `ctl ${action} takes one argument: ${ctlUsageOf(action)}; ${commandHelp}`
        : `ctl ${action} takes no argument; ${commandHelp}`,
    );
  }
  if (configSha !== undefined && action !== 'start' && action !== 'restart')
    throw usageError(`ctl: --config goes with start or restart, not ${action}`);
  if (timeout !== undefined && action !== 'wait') throw usageError(`ctl: --timeout goes with wait, not ${action}`);
  const read = readerOf(flags, env);
  const name = checkedName(read);
  const request: CtlRequest = {
    action: action satisfies CtlAction,
    isJson,
    name,
    socketPath: placesOf(read, name, executablePath).socketPath,
    configSha,
  };
  if (action === 'signal') {
    // Which signals may be sent is the manager's to say (400 with the list); a word that is no name at all is a typo.
    if (!/^[A-Za-z][A-Za-z0-9+]{0,15}$/.test(words[1]))
      throw usageError(`ctl signal: '${words[1]}' is not a signal name (QUIT, SIGQUIT, quit); ${commandHelp}`);
    return { kind: 'ctl', request: { ...request, signal: words[1] } };
  }
  if (action === 'wait') {
    const target = WAIT_TARGETS.find((w) => w === words[1]);
    if (!target) throw usageError(`ctl wait: '${words[1]}' is not one of ${WAIT_TARGETS.join(', ')}; ${commandHelp}`);
    const parsed = parseDuration(timeout ?? DEFAULT_WAIT_TIMEOUT);
    if (!parsed.ok) throw usageError(`ctl wait --timeout: '${timeout}' is not ${parsed.expected}`);
    return { kind: 'ctl', request: { ...request, wait: { target, timeoutMs: parsed.value } } };
  }
  return { kind: 'ctl', request };
}

function ctlUsageOf(action: 'wait' | 'signal'): string {
  return action === 'wait' ? `ctl wait ${WAIT_TARGETS.join('|')} [--timeout D]` : 'ctl signal SIG';
}

/** Kubernetes' default terminationGracePeriodSeconds, and what a shutdown should leave of it. */
const TYPICAL_GRACE_MS = 30_000;
const GRACE_MARGIN_MS = 5_000;

/** A drain plus a shutdown the kubelet cuts short with SIGKILL would lose the point of both. */
function graceWarnings(config: Config): string[] {
  const needed = config.drainDelayMs + config.shutdownTimeoutMs;
  if (config.drainDelayMs === 0 || needed <= TYPICAL_GRACE_MS - GRACE_MARGIN_MS) return [];
  const seconds = Math.ceil((needed + GRACE_MARGIN_MS) / 1000);
  return [
    `${OPTIONS.drainDelay.flag} ${config.drainDelayMs / 1000}s + ${OPTIONS.shutdownTimeout.flag} ${config.shutdownTimeoutMs / 1000}s leaves less than ${GRACE_MARGIN_MS / 1000} s of the default 30 s grace period: set the Pod's terminationGracePeriodSeconds to at least ${seconds}, or the kubelet's SIGKILL ends the stop`,
  ];
}

/** Typos such as PM_SHUTDOWN_TIMOUT would otherwise change nothing, in silence. */
function unknownVariables(env: Env, internalVariables: readonly string[]): string[] {
  const known = [...OPTION_VARIABLES];
  return Object.keys(env)
    .filter((name) => name.startsWith('PM_') && !OPTION_VARIABLES.has(name) && !internalVariables.includes(name))
    .sort()
    .map((name) => {
      const closest = known.map((k) => ({ k, d: editDistance(name, k) })).sort((a, b) => a.d - b.d)[0];
      const hint = closest && closest.d <= 3 ? `; did you mean ${closest.k}?` : '';
      return `${name} is set but no option reads it${hint} (see --help)`;
    });
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}

function readTls(read: Reader): Config['tls'] {
  const cert = read.raw('tlsCert');
  const key = read.raw('tlsKey');
  const clientCa = read.raw('tlsClientCa');
  if (!cert && !key) {
    if (clientCa)
      throw configError(
        `${clientCa.source} needs ${OPTIONS.tlsCert.flag} and ${OPTIONS.tlsKey.flag}: client certificates only exist over HTTPS`,
      );
    return undefined;
  }
  if (!cert) throw configError(`${key?.source} is set but ${OPTIONS.tlsCert.flag} is not; give both`);
  if (!key) throw configError(`${cert.source} is set but ${OPTIONS.tlsKey.flag} is not; give both`);
  return {
    certFile: read.value('tlsCert') as string,
    keyFile: read.value('tlsKey') as string,
    clientCaFile: read.value('tlsClientCa'),
  };
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
