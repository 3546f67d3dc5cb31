// The helper's bytes travel inside the single executable as a SEA asset
// (build.mjs puts them there and names it). A run from source has none.

declare const __PM_HELPER_ASSET__: string | undefined;

interface SeaModule {
  isSea(): boolean;
  getRawAsset(key: string): ArrayBuffer;
}

export async function loadHelperBinary(): Promise<Uint8Array | undefined> {
  let sea: SeaModule;
  try {
    sea = (await import('node:sea')) as unknown as SeaModule;
  } catch {
    return undefined; // Deno, or a Node without SEA support
  }
  if (!sea.isSea() || typeof __PM_HELPER_ASSET__ !== 'string') return undefined;
  return new Uint8Array(sea.getRawAsset(__PM_HELPER_ASSET__));
}
