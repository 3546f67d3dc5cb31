// What this updater last wrote to the keystore, kept in a small JSON file next
// to it (so it lives and dies with the keystore): the names it manages and a
// digest of each value, plus a fingerprint of the keystore file as we left it.
// The fingerprint tells us when someone else (the image's entrypoint adding
// bootstrap.password, ES upgrading the file, an operator) touched the keystore.
//
// Digests are HMAC-SHA256 under a random salt and the keystore password, not
// plain hashes: with a password-protected keystore, plain hashes of short
// values could be guessed offline by whoever can read the config directory.

import { createHmac, randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../files/atomic-write.ts';
import { describeReadError, hashBoundedFile, MiB, readBoundedFile } from '../files/bounded-read.ts';
import { parseShallowJson } from '../files/parse-json.ts';
import { errnoCode } from '../files/errno.ts';
import { SETTING_NAME } from './setting-name.ts';

const RECORD_VERSION = 1;
/** Names and digests of a Secret (at most 1 MiB in all): a few hundred KiB at worst. */
const MAX_RECORD_BYTES = 4 * MiB;
/** The record, and its settings object. */
const MAX_RECORD_DEPTH = 2;
const RECORD_MODE = 0o600;
/** The keystore holds at most a Secret's worth of values plus its framing. */
const MAX_KEYSTORE_BYTES = 64 * MiB;
const HEX_DIGEST = /^[0-9a-f]{64}$/;
/**
 * The digest of a name recorded before the CLI call that adds it: it may or
 * may not be in the keystore (the manager may die at any step of the call).
 * Never equal to a real digest, so the name is added again while it is in
 * SOURCE_DIR, and removed (or found already gone) once it is not.
 */
export const PENDING_DIGEST = 'pending';

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
  return {
    salt: randomBytes(16).toString('hex'),
    settings: new Map(),
    keystoreSha256: null,
    revision: null,
    appliedAt: null,
  };
}

/** Absent or unusable: an empty record (nothing is managed yet, so nothing gets removed). */
export async function loadRecord(file: string): Promise<LoadedRecord> {
  let text: string;
  try {
    text = (await readBoundedFile(file, { maxBytes: MAX_RECORD_BYTES })).toString('utf8');
  } catch (error) {
    // Expected: ENOENT (first run). Anything else (refused included) is reported, and we start afresh.
    if (errnoCode(error) === 'ENOENT') return { record: emptyRecord() };
    return { record: emptyRecord(), problem: `cannot read ${file}: ${describeReadError(error)}` };
  }
  const parsed = parseRecord(text);
  return parsed ? { record: parsed } : { record: emptyRecord(), problem: `ignoring ${file}: not a valid record` };
}

function parseRecord(text: string): AppliedRecord | undefined {
  let raw: unknown;
  try {
    raw = parseShallowJson(text, MAX_RECORD_DEPTH);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const value = raw as Record<string, unknown>;
  const settings = value.settings;
  if (
    value.version !== RECORD_VERSION ||
    typeof value.salt !== 'string' ||
    typeof settings !== 'object' ||
    settings === null
  )
    return undefined;
  const entries = Object.entries(settings as Record<string, unknown>);
  if (
    !entries.every(([name, digest]) => SETTING_NAME.test(name) && typeof digest === 'string' && HEX_DIGEST.test(digest))
  )
    return undefined;
  const pending = value.pending ?? [];
  if (!Array.isArray(pending) || !pending.every((name) => typeof name === 'string' && SETTING_NAME.test(name)))
    return undefined;
  for (const name of pending as string[])
    if (!entries.some(([known]) => known === name)) entries.push([name, PENDING_DIGEST]);
  const optionalString = (field: unknown): string | null => (typeof field === 'string' ? field : null);
  return {
    salt: value.salt,
    settings: new Map(entries as [string, string][]),
    keystoreSha256: optionalString(value.keystoreSha256),
    revision: optionalString(value.revision),
    appliedAt: optionalString(value.appliedAt),
  };
}

/** Atomic, mode 0600, so a crash never leaves half a record. */
export async function saveRecord(file: string, record: AppliedRecord): Promise<void> {
  const body = {
    version: RECORD_VERSION,
    salt: record.salt,
    keystoreSha256: record.keystoreSha256,
    revision: record.revision,
    appliedAt: record.appliedAt,
    settings: Object.fromEntries(
      [...record.settings].filter(([, digest]) => digest !== PENDING_DIGEST).sort(([a], [b]) => (a < b ? -1 : 1)),
    ),
    pending: [...record.settings]
      .filter(([, digest]) => digest === PENDING_DIGEST)
      .map(([name]) => name)
      .sort(),
  };
  await writeFileAtomic(file, `${JSON.stringify(body, null, 2)}\n`, { mode: RECORD_MODE });
}

/** The digest stored for a value whose sha256 is `hash`. */
export function digester(salt: string, keystorePassword: string): (hash: string) => string {
  return (hash) => createHmac('sha256', `${salt}:${keystorePassword}`).update(hash).digest('hex');
}

/** sha256 of a file's bytes, or null when it does not exist. */
export async function fingerprintFile(file: string): Promise<string | null> {
  try {
    return await hashBoundedFile(file, { maxBytes: MAX_KEYSTORE_BYTES });
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  }
}
