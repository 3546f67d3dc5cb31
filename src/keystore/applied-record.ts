// What this updater last wrote to the keystore, kept in a small JSON file next
// to it (so it lives and dies with the keystore): the names it manages and a
// digest of each value, plus a fingerprint of the keystore file as we left it.
// The fingerprint tells us when someone else (the image's entrypoint adding
// bootstrap.password, ES upgrading the file, an operator) touched the keystore.
//
// Digests are HMAC-SHA256 under a random salt and the keystore password, not
// plain hashes: with a password-protected keystore, plain hashes of short
// values could be guessed offline by whoever can read the config directory.

import { createHash, createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';

const RECORD_VERSION = 1;
const SETTING_NAME = /^[A-Za-z0-9_\-.]+$/;
const HEX_DIGEST = /^[0-9a-f]{64}$/;

export interface AppliedRecord {
  readonly salt: string;
  /** Managed name -> digest of the value last written. */
  readonly settings: Map<string, string>;
  /** sha256 of the keystore file right after our last successful write; null before any. */
  keystoreSha256: string | null;
  revision: string | null;
  appliedAt: string | null;
}

export type LoadedRecord = { readonly record: AppliedRecord; readonly problem?: string };

export function recordPathFor(keystorePath: string): string {
  return `${keystorePath}.managed.json`;
}

export function emptyRecord(): AppliedRecord {
  return { salt: randomBytes(16).toString('hex'), settings: new Map(), keystoreSha256: null, revision: null, appliedAt: null };
}

/** Absent or unusable: an empty record (nothing is managed yet, so nothing gets removed). */
export async function loadRecord(file: string): Promise<LoadedRecord> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    // Expected: ENOENT (first run). Anything else is reported, and we start afresh.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { record: emptyRecord() };
    return { record: emptyRecord(), problem: `cannot read ${file}: ${(error as Error).message}` };
  }
  const parsed = parseRecord(text);
  return parsed ? { record: parsed } : { record: emptyRecord(), problem: `ignoring ${file}: not a valid record` };
}

function parseRecord(text: string): AppliedRecord | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const value = raw as Record<string, unknown>;
  const settings = value.settings;
  if (value.version !== RECORD_VERSION || typeof value.salt !== 'string' || typeof settings !== 'object' || settings === null) return undefined;
  const entries = Object.entries(settings as Record<string, unknown>);
  if (!entries.every(([name, digest]) => SETTING_NAME.test(name) && typeof digest === 'string' && HEX_DIGEST.test(digest))) return undefined;
  const optionalString = (field: unknown): string | null => (typeof field === 'string' ? field : null);
  return {
    salt: value.salt,
    settings: new Map(entries as [string, string][]),
    keystoreSha256: optionalString(value.keystoreSha256),
    revision: optionalString(value.revision),
    appliedAt: optionalString(value.appliedAt),
  };
}

/** Temp file + rename, mode 0600, so a crash never leaves half a record. */
export async function saveRecord(file: string, record: AppliedRecord): Promise<void> {
  const body = {
    version: RECORD_VERSION,
    salt: record.salt,
    keystoreSha256: record.keystoreSha256,
    revision: record.revision,
    appliedAt: record.appliedAt,
    settings: Object.fromEntries([...record.settings].sort(([a], [b]) => (a < b ? -1 : 1))),
  };
  const temp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

/** The digest stored for a value whose sha256 is `hash`. */
export function digester(salt: string, keystorePassword: string): (hash: string) => string {
  return (hash) => createHmac('sha256', `${salt}:${keystorePassword}`).update(hash).digest('hex');
}

/** sha256 of a file's bytes, or null when it does not exist. */
export async function fingerprintFile(file: string): Promise<string | null> {
  try {
    return createHash('sha256').update(await fs.readFile(file)).digest('hex');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
