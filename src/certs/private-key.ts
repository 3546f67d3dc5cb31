// The node's private key: an existing one is kept (a certificate may already
// be issued for it); a missing one is generated as RSA 2048 and written as
// PKCS#8 PEM, mode 0600, atomically. The original wrote it 0644.

import { createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { configError } from '../config/errors.ts';
import { writeFileAtomic } from '../files/atomic-write.ts';
import { describeReadError, KiB, readBoundedFile } from '../files/bounded-read.ts';
import { errnoCode } from '../files/errno.ts';

const RSA_BITS = 2048;
const KEY_FILE_MODE = 0o600;
const KEY_DIRECTORY_MODE = 0o700;
const FLAG = '--private-key-path';
/** An RSA 4096 PEM key is about 3.3 KiB. */
const MAX_KEY_FILE_BYTES = 64 * KiB;

const generateKeyPairAsync = promisify(generateKeyPair);

/** The key at file; undefined when there is none. Throws a config error when a file is there but unusable. */
export async function readPrivateKey(file: string): Promise<KeyObject | undefined> {
  let pem: string;
  try {
    pem = (await readBoundedFile(file, { maxBytes: MAX_KEY_FILE_BYTES })).toString('utf8');
  } catch (error) {
    // ENOENT, ENOTDIR: no key can be there yet (writing it will say what is wrong with the path).
    // Anything else (EACCES, EISDIR, EIO) must not be papered over with a new key.
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw configError(`${FLAG} ${file}: cannot read: ${describeReadError(error)}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    // Replacing it would orphan whatever was issued for it; a human must look.
    throw configError(
      `${FLAG} ${file}: not an unencrypted PEM private key (PKCS#8 or PKCS#1): ${(error as Error).message}`,
    );
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw configError(
      `${FLAG} ${file}: an RSA key is expected, found ${key.asymmetricKeyType ?? 'an unknown key type'}`,
    );
  }
  return key;
}

/** Generates an RSA 2048 key and writes it to file; configuration errors name the flag. */
export async function generatePrivateKey(file: string): Promise<KeyObject> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: RSA_BITS, publicExponent: 0x10001 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  try {
    await writeFileAtomic(file, pem, { mode: KEY_FILE_MODE, directoryMode: KEY_DIRECTORY_MODE });
  } catch (error) {
    throw configError(`${FLAG} ${file}: cannot write the private key: ${(error as Error).message}`);
  }
  return privateKey;
}

/** Mode bits that let others than the owner read the key; undefined when it is private or unknown. */
export async function looseKeyMode(file: string): Promise<string | undefined> {
  const mode = await fs.stat(file).then(
    (stat) => stat.mode & 0o777,
    () => undefined,
  );
  return mode !== undefined && (mode & 0o077) !== 0 ? mode.toString(8).padStart(4, '0') : undefined;
}
