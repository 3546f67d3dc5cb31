// Every keystore change is a compare-and-swap. elasticsearch-keystore takes no
// lock: it reads the file, works for seconds (three JVMs, two key
// derivations), then renames its temporary file over whatever is there by
// then, so another writer's change made meanwhile (the image's entrypoint
// adding bootstrap.password, a person with `kubectl exec`) is lost, and ours
// is lost if that writer saves after us.
//
// So the CLI never runs on the live keystore. A pass copies it into a private
// directory next to it (same file system, so a rename can put it in place),
// runs the CLI there (ES_PATH_CONF pointing at that directory), and renames
// the result over the live file only if the live file is still the very one
// the copy was taken from: same inode, size, times and sha256. Otherwise the
// update is dropped and the caller starts again from the new version. What
// is left is the instant between that check and the rename, instead of the
// seconds of a CLI call.

import { createHash } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../files/errno.ts';

/** The keystore holds at most a Secret's worth of values plus its framing. */
const MAX_KEYSTORE_BYTES = 64 * 1024 * 1024;
const KEYSTORE_MODE = 0o660;
const WORKSPACE_MODE = 0o700;
const ABSENT = 'absent';

/** The live keystore as one read saw it; bytes null when there is none. */
interface Version {
  readonly bytes: Buffer | null;
  /** Inode, size and times: a rewrite with the same bytes still counts as a change. */
  readonly identity: string;
  readonly sha256: string | null;
  readonly uid: number;
  readonly gid: number;
}

export type CommitResult =
  | { readonly kind: 'swapped'; readonly sha256: string }
  /** Someone else wrote the keystore since the copy was taken: nothing was put in place. */
  | { readonly kind: 'conflict'; readonly what: string };

export interface Workspace {
  /** ES_PATH_CONF for the CLI: holds the copy. */
  readonly dir: string;
  readonly keystoreExists: boolean;
  /** Puts the copy in place if the live keystore is still the version it was taken from. */
  commit(): Promise<CommitResult>;
  /** Removes the private directory; never rejects. */
  dispose(): Promise<void>;
}

/** Where the private copies live: a hidden directory beside the keystore. */
export function workspaceRoot(keystorePath: string): string {
  return path.join(path.dirname(keystorePath), `.${path.basename(keystorePath)}.updates`);
}

/** Removes what an earlier run left (a manager killed mid-pass). A CLI still running there from it then fails. */
export async function sweepWorkspaces(keystorePath: string): Promise<void> {
  await fs.rm(workspaceRoot(keystorePath), { recursive: true, force: true });
}

/**
 * A private copy of the live keystore, or null with the reason when the live
 * one is not the version the caller planned against (`expectedSha256`).
 */
export async function openWorkspace(
  keystorePath: string,
  expectedSha256: string | null,
): Promise<Workspace | { readonly conflict: string }> {
  const base = await readVersion(keystorePath);
  if (base.sha256 !== expectedSha256) return { conflict: 'it changed between our reading it and copying it' };
  const root = workspaceRoot(keystorePath);
  // Never recursive: the keystore's own directory must already be there (keystore-directory).
  await fs.mkdir(root, { mode: WORKSPACE_MODE }).catch((error: unknown) => {
    if (errnoCode(error) !== 'EEXIST') throw error;
  });
  const dir = await fs.mkdtemp(path.join(root, 'pass-'));
  const copy = path.join(dir, path.basename(keystorePath));
  const dispose = async (): Promise<void> => void (await fs.rm(dir, { recursive: true, force: true }).catch(() => {}));
  try {
    if (base.bytes !== null) await fs.writeFile(copy, base.bytes, { mode: KEYSTORE_MODE, flag: 'wx' });
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    dir,
    keystoreExists: base.bytes !== null,
    dispose,
    async commit() {
      const updated = await readVersion(copy);
      if (updated.bytes === null) throw new Error(`elasticsearch-keystore left no keystore in ${dir}`);
      const live = await readVersion(keystorePath);
      if (live.identity !== base.identity || live.sha256 !== base.sha256)
        return { kind: 'conflict', what: describeChange(base, live) };
      // The CLI refuses to change a keystore's owner; so do we (as root we may keep it instead).
      if (base.bytes !== null && (updated.uid !== base.uid || updated.gid !== base.gid)) {
        await fs.chown(copy, base.uid, base.gid).catch((error: Error) => {
          throw new Error(
            `will not replace ${keystorePath}, owned by ${base.uid}:${base.gid}, with a file of another owner (${error.message})`,
          );
        });
      }
      // The last look and the rename, with nothing in between: synchronous, so the event loop cannot widen the gap
      // another writer's rename could fall into to more than two system calls. Any save changes the inode or the times.
      if (identityNow(keystorePath) !== base.identity) return { kind: 'conflict', what: 'it was rewritten just now' };
      fsSync.renameSync(copy, keystorePath);
      return { kind: 'swapped', sha256: updated.sha256! };
    },
  };
}

function describeChange(base: Version, live: Version): string {
  if (live.bytes === null) return 'it was deleted';
  return base.bytes === null ? 'it was created' : 'it was rewritten';
}

function identityNow(file: string): string {
  const stat = fsSync.statSync(file, { bigint: true, throwIfNoEntry: false });
  return stat === undefined ? ABSENT : identityOf(stat);
}

function identityOf(stat: fsSync.BigIntStats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
}

async function readVersion(file: string): Promise<Version> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { bytes: null, identity: ABSENT, sha256: null, uid: -1, gid: -1 };
    throw error;
  }
  try {
    const stat = await handle.stat({ bigint: true });
    if (!stat.isFile()) throw new Error(`${file} is not a regular file`);
    if (stat.size > BigInt(MAX_KEYSTORE_BYTES)) throw new Error(`${file} is larger than ${MAX_KEYSTORE_BYTES} bytes`);
    const bytes = await handle.readFile();
    return {
      bytes,
      identity: identityOf(stat),
      sha256: createHash('sha256').update(bytes).digest('hex'),
      uid: Number(stat.uid),
      gid: Number(stat.gid),
    };
  } finally {
    await handle.close();
  }
}
