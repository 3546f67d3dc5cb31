// Helpers for the keystore updater tests: a faithful emulation of Kubernetes'
// AtomicWriter (how a Secret volume changes), the fake elasticsearch-keystore's
// invocation log, the keystore's content, and throw-away certificates.
// Defines functions only: tap may load this file on its own.

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readFakeKeystore } from '../fixtures/keystore/fake-es.mjs';
import { FAKE_ES, ROOT, tempDir, waitFor, type RunningManager } from './manager.ts';

export const KEYSTORE_CLI = path.join(ROOT, 'test/fixtures/keystore/elasticsearch-keystore');

export interface SecretWriteOptions {
  /** Older kubelets create the links of new keys before the swap, so they dangle for a moment. */
  readonly linksBeforeSwap?: boolean;
  /** Swap even when nothing changed (the real writer skips that; used to provoke a no-op rescan). */
  readonly force?: boolean;
}

/**
 * Updates `dir` the way kubelet's AtomicWriter does (pkg/volume/util/atomic_writer.go):
 * the payload goes into a fresh `..<timestamp>.<random>` directory, a `..data_tmp`
 * symlink to it is renamed over `..data`, each key is a top-level link
 * `key -> ..data/key`, links of deleted keys are removed, and the old
 * timestamped directory is deleted. Returns false when nothing had to be written.
 */
export function writeSecret(
  dir: string,
  payload: Record<string, string | Buffer>,
  options: SecretWriteOptions = {},
): boolean {
  fs.mkdirSync(dir, { recursive: true });
  const dataLink = path.join(dir, '..data');
  const oldVersion = readlinkOrNull(dataLink);
  const oldKeys = oldVersion ? fs.readdirSync(path.join(dir, oldVersion)) : [];
  const keys = Object.keys(payload);
  if (oldVersion && !options.force && sameContent(path.join(dir, oldVersion), oldKeys, payload)) return false;

  const stamp = new Date().toISOString().replace(/[-T:]/g, '_').replace(/\..*$/, '');
  const version = `..${stamp}.${crypto.randomInt(1e9)}`;
  fs.mkdirSync(path.join(dir, version), { mode: 0o755 });
  for (const key of keys) fs.writeFileSync(path.join(dir, version, key), payload[key], { mode: 0o644 });
  if (options.linksBeforeSwap) createKeyLinks(dir, keys);
  fs.symlinkSync(version, path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), dataLink);
  if (!options.linksBeforeSwap) createKeyLinks(dir, keys);
  for (const key of oldKeys) if (!keys.includes(key)) fs.unlinkSync(path.join(dir, key));
  if (oldVersion) fs.rmSync(path.join(dir, oldVersion), { recursive: true, force: true });
  return true;
}

/** The Secret's current revision: what the updater must report as secretRevision. */
export function secretRevision(dir: string): string | null {
  return readlinkOrNull(path.join(dir, '..data'));
}

function createKeyLinks(dir: string, keys: readonly string[]): void {
  for (const key of keys) {
    if (readlinkOrNull(path.join(dir, key)) === null) fs.symlinkSync(path.join('..data', key), path.join(dir, key));
  }
}

function sameContent(
  versionDir: string,
  oldKeys: readonly string[],
  payload: Record<string, string | Buffer>,
): boolean {
  const keys = Object.keys(payload);
  if (keys.length !== oldKeys.length || !keys.every((key) => oldKeys.includes(key))) return false;
  return keys.every((key) => fs.readFileSync(path.join(versionDir, key)).equals(Buffer.from(payload[key])));
}

function readlinkOrNull(link: string): string | null {
  try {
    return fs.readlinkSync(link);
  } catch {
    return null;
  }
}

export interface CliCall {
  readonly argv: string[];
  readonly exit: number;
  readonly time: string;
  readonly end: string;
}

/** Every finished call of the fake elasticsearch-keystore, in order. */
export function cliCalls(logFile: string): CliCall[] {
  if (!fs.existsSync(logFile)) return [];
  return fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/** The keystore as name -> value (utf8), or null when there is none. */
export function readKeystore(file: string, password = ''): Record<string, string> | null {
  if (!fs.existsSync(file)) return null;
  const { entries } = readFakeKeystore(file, password) as { entries: Map<string, Buffer> };
  return Object.fromEntries([...entries].map(([name, value]) => [name, value.toString('utf8')]));
}

/** The keystore without keystore.seed, for comparing with a Secret's payload plus foreign settings. */
export function settingsOf(file: string, password = ''): Record<string, string> | null {
  const all = readKeystore(file, password);
  if (all === null) return null;
  const { 'keystore.seed': _seed, ...rest } = all;
  return rest;
}

/** Runs the fake CLI directly (setting up a keystore before the manager starts). */
export function runCli(
  configDir: string,
  args: readonly string[],
  input = '',
  env: Record<string, string> = {},
): string {
  return execFileSync(KEYSTORE_CLI, args, {
    input,
    env: { ...process.env, ES_PATH_CONF: configDir, ...env },
    encoding: 'utf8',
  });
}

export interface KeystoreLayout {
  readonly root: string;
  readonly sourceDir: string;
  readonly configDir: string;
  readonly keystorePath: string;
  readonly cliLog: string;
  readonly stateFile: string;
  /** The manager's arguments: the fake ES tree as the process, a private state file. */
  readonly args: string[];
  /** The updater's environment for this layout. */
  readonly env: Record<string, string>;
}

export function keystoreLayout(prefix = 'pm-keystore-'): KeystoreLayout {
  const root = tempDir(prefix);
  const configDir = path.join(root, 'config');
  fs.mkdirSync(configDir);
  const layout = {
    root,
    sourceDir: path.join(root, 'secrets'),
    configDir,
    keystorePath: path.join(configDir, 'elasticsearch.keystore'),
    cliLog: path.join(root, 'keystore-cli.log'),
    stateFile: path.join(root, 'es.state.json'),
  };
  return {
    ...layout,
    args: ['--cmd', FAKE_ES, '--state-file', layout.stateFile],
    env: {
      SOURCE_DIR: layout.sourceDir,
      KEYSTORE_BINARY: KEYSTORE_CLI,
      KEYSTORE_PATH: layout.keystorePath,
      FAKE_KEYSTORE_LOG: layout.cliLog,
      TMPDIR: root,
    },
  };
}

export async function keystoreStatus(manager: RunningManager): Promise<any> {
  const response = await manager.request('GET', '/keystore/status');
  return response.status === 200 ? response.json : { httpStatus: response.status, ...response.json };
}

/** Waits until /keystore/status satisfies `predicate`, and returns that status. */
export async function statusWhere(
  manager: RunningManager,
  predicate: (status: any) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<any> {
  return waitFor(
    async () => {
      const status = await keystoreStatus(manager);
      return predicate(status) ? status : undefined;
    },
    what,
    timeoutMs,
  );
}

export interface TestCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** A CA and a server certificate for 127.0.0.1 signed by it (openssl). */
export function makeCertificates(dir: string, name = 'ca'): TestCertificates {
  fs.mkdirSync(dir, { recursive: true });
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-subj',
    `/CN=${name}-test-ca`,
  );
  openssl('req', ...ec, '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', '/CN=es-0');
  fs.writeFileSync(
    path.join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'tls.csr',
    '-CA',
    `${name}.crt`,
    '-CAkey',
    `${name}.key`,
    '-CAcreateserial',
    '-out',
    'tls.crt',
    '-days',
    '1',
    '-extfile',
    'ext.cnf',
  );
  const read = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8');
  return {
    dir,
    caFile: path.join(dir, `${name}.crt`),
    ca: read(`${name}.crt`),
    cert: read('tls.crt'),
    key: read('tls.key'),
  };
}
