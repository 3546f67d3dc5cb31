// The command line of `process-manager cluster-restart`. Its own small parser:
// these options are not the manager's (no PM_ variable reads them), only the
// ES connection falls back to the keystore updater's variables, so the command
// run in an ES pod's environment (kubectl exec) already knows how to reach ES.

import path from 'node:path';
import { KEYSTORE_VARIABLES, type KeystoreVariable } from '../config/keystore-env.ts';
import { OPTIONS } from '../config/options.ts';
import { parseDuration } from '../config/values.ts';

type Env = Readonly<Record<string, string | undefined>>;

export type Mode = 'rolling' | 'full';
export type WantedHealth = 'green' | 'yellow';

export interface RestartOptions {
  readonly es: string;
  readonly esUsername: string | undefined;
  readonly esPassword: string | undefined;
  readonly esPasswordFile: string | undefined;
  /** CA for an https ES: a PEM file or a directory, as CERTIFICATES_PATH. */
  readonly esCa: string;
  readonly mode: Mode;
  readonly managerPort: number;
  readonly managerName: string;
  /** node name → manager base URL */
  readonly managers: ReadonlyMap<string, string>;
  readonly clientCert: string | undefined;
  readonly clientKey: string | undefined;
  readonly managerCa: string | undefined;
  readonly nodes: readonly string[] | undefined;
  readonly config: string | undefined;
  readonly configTimeoutMs: number;
  readonly waitFor: WantedHealth;
  readonly timeoutMs: number;
  readonly since: Date | undefined;
  readonly isDryRun: boolean;
  readonly isJson: boolean;
  /** The words as given, for the resume command. */
  readonly argv: readonly string[];
}

/** Bad input: exit 64, the message says which option. */
export class UsageError extends Error {}

const VALUE_FLAGS = [
  '--es',
  '--es-username',
  '--es-password-file',
  '--es-ca',
  '--mode',
  '--manager-port',
  '--manager',
  '--client-cert',
  '--client-key',
  '--manager-ca',
  '--manager-name',
  '--nodes',
  '--config',
  '--config-timeout',
  '--wait-for',
  '--timeout',
  '--since',
] as const;
const SWITCHES = ['--dry-run', '--json'] as const;
type ValueFlag = (typeof VALUE_FLAGS)[number];

const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

export const USAGE = `process-manager cluster-restart [--mode rolling|full] [--es URL] [--nodes NAME,...] [--config SHA]
  [--wait-for green|yellow] [--timeout D] [--since TIME] [--dry-run] [--json]
  [--manager-port N] [--manager NODE=URL]... [--client-cert F --client-key F] [--manager-ca F] [--manager-name NAME]
  [--es-username U] [--es-password-file F] [--es-ca F] [--config-timeout D]`;

export function parseRestartOptions(argv: readonly string[], env: Env): RestartOptions {
  const values = new Map<ValueFlag, string>();
  const managers = new Map<string, string>();
  const switches = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    const equals = word.indexOf('=');
    const flag = word.startsWith('--') && equals !== -1 ? word.slice(0, equals) : word;
    if ((SWITCHES as readonly string[]).includes(word)) {
      switches.add(word);
      continue;
    }
    if (!(VALUE_FLAGS as readonly string[]).includes(flag))
      throw new UsageError(`unknown ${word.startsWith('--') ? 'option' : 'argument'} '${word}'\n${USAGE}`);
    const value = equals !== -1 && word.startsWith('--') ? word.slice(equals + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`option ${flag} needs a value`);
    if (flag === '--manager') addManager(managers, value);
    else values.set(flag as ValueFlag, value);
  }

  const fromEnv = (variable: KeystoreVariable): string | undefined => {
    for (const name of variable.alias ? [variable.name, variable.alias] : [variable.name])
      if (env[name]) return env[name];
    return variable.defaultValue;
  };
  const es = (values.get('--es') ?? fromEnv(KEYSTORE_VARIABLES.endpoint) ?? '').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(es) || !URL.canParse(es))
    throw new UsageError(`--es: '${es}' is not an http:// or https:// URL`);
  const clientCert = pathOf(values.get('--client-cert'));
  const clientKey = pathOf(values.get('--client-key'));
  if (!!clientCert !== !!clientKey) throw new UsageError('--client-cert and --client-key go together');
  const managerName = values.get('--manager-name') ?? 'es';
  if (!NAME_PATTERN.test(managerName))
    throw new UsageError(`--manager-name: '${managerName}' is not a process name (1-64 of A-Z a-z 0-9 _ . -)`);
  const config = values.get('--config');
  if (config !== undefined && !SHA256_HEX.test(config))
    throw new UsageError(`--config: '${config}' is not a sha256 in lower-case hex (64 characters)`);
  const nodes = values
    .get('--nodes')
    ?.split(',')
    .map((name) => name.trim());
  if (nodes && (nodes.length === 0 || nodes.some((name) => name === '')))
    throw new UsageError('--nodes: give node names separated by commas');

  return {
    es,
    esUsername: values.get('--es-username') ?? fromEnv(KEYSTORE_VARIABLES.username),
    // A password on the command line would show in `ps` and in the resume command: only from a file or the environment.
    esPassword: values.has('--es-password-file') ? undefined : fromEnv(KEYSTORE_VARIABLES.password),
    esPasswordFile: pathOf(values.get('--es-password-file') ?? fromEnv(KEYSTORE_VARIABLES.passwordFile)),
    esCa: path.resolve(values.get('--es-ca') ?? fromEnv(KEYSTORE_VARIABLES.certificatesPath) ?? '.'),
    mode: choice('--mode', values.get('--mode') ?? 'rolling', ['rolling', 'full'] as const),
    managerPort: port(values.get('--manager-port') ?? OPTIONS.httpPort.defaultValue),
    managerName,
    managers,
    clientCert,
    clientKey,
    managerCa: pathOf(values.get('--manager-ca')),
    nodes,
    config,
    configTimeoutMs: duration('--config-timeout', values.get('--config-timeout') ?? '5m'),
    waitFor: choice('--wait-for', values.get('--wait-for') ?? 'green', ['green', 'yellow'] as const),
    timeoutMs: duration('--timeout', values.get('--timeout') ?? '30m'),
    since: time(values.get('--since')),
    isDryRun: switches.has('--dry-run'),
    isJson: switches.has('--json'),
    argv,
  };
}

function addManager(managers: Map<string, string>, value: string): void {
  const equals = value.indexOf('=');
  const node = value.slice(0, equals);
  const url = value.slice(equals + 1).replace(/\/+$/, '');
  if (equals <= 0 || !/^https?:\/\/[^/]+$/.test(url) || !URL.canParse(url))
    throw new UsageError(`--manager: '${value}' is not NODE=URL (e.g. es-0=https://10.0.0.5:8080)`);
  managers.set(node, url);
}

function pathOf(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : path.resolve(text);
}

function choice<C extends string>(flag: string, text: string, choices: readonly C[]): C {
  const found = choices.find((c) => c === text);
  if (!found) throw new UsageError(`${flag}: '${text}' is not one of ${choices.join(', ')}`);
  return found;
}

function duration(flag: string, text: string): number {
  const parsed = parseDuration(text);
  if (!parsed.ok) throw new UsageError(`${flag}: '${text}' is not ${parsed.expected}`);
  if (parsed.value <= 0) throw new UsageError(`${flag}: must be longer than 0`);
  return parsed.value;
}

function port(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > 65535)
    throw new UsageError(`--manager-port: '${text}' is not a TCP port from 1 to 65535`);
  return value;
}

/** ISO 8601 with a zone (as the manager's startedAt and the abort message print it): a local time would depend on where the command runs. */
function time(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const parsed = /(Z|[+-]\d\d:?\d\d)$/.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(parsed.getTime()))
    throw new UsageError(`--since: '${text}' is not a time such as 2026-12-06T01:00:00Z`);
  return parsed;
}
