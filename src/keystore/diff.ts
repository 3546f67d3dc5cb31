// What one sync must change in the keystore, computed from hashes only: the
// directory as scanned now against what was last applied.

/** Setting name -> sha256 (hex) of its bytes. */
export type Hashes = ReadonlyMap<string, string>;

export interface KeystoreDiff {
  /** Names to write with add-file: new, or bytes changed since last applied. */
  readonly upserts: readonly string[];
  /** Managed names no longer in the directory. */
  readonly removals: readonly string[];
}

/**
 * `applied` holds the hashes known to be in the keystore; `managed` the names
 * this updater put there (a superset of applied's names when the keystore was
 * changed behind our back and every current entry is re-added).
 */
export function diffSettings(applied: Hashes, managed: ReadonlySet<string>, current: Hashes): KeystoreDiff {
  const upserts = [...current].filter(([name, hash]) => applied.get(name) !== hash).map(([name]) => name);
  const removals = [...managed].filter((name) => !current.has(name));
  return { upserts: upserts.sort(), removals: removals.sort() };
}

export function isEmptyDiff(diff: KeystoreDiff): boolean {
  return diff.upserts.length === 0 && diff.removals.length === 0;
}
