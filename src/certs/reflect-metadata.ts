// @peculiar/x509 registers its algorithms with tsyringe, and tsyringe refuses
// to load unless `Reflect.getMetadata` exists (it normally comes from the
// reflect-metadata package). x509 never declares constructor parameters to
// inject, so tsyringe only ever reads metadata that nobody wrote; this is the
// smallest correct stand-in: a per-object store with prototype lookup. It must
// run before x509 is first evaluated, which is why csr.ts calls it right
// before its dynamic import. An existing polyfill is left alone.

type Key = unknown;
type Target = object;

interface ReflectWithMetadata {
  getMetadata?: (key: Key, target: Target, property?: PropertyKey) => unknown;
  getOwnMetadata?: (key: Key, target: Target, property?: PropertyKey) => unknown;
  defineMetadata?: (key: Key, value: unknown, target: Target, property?: PropertyKey) => void;
  hasMetadata?: (key: Key, target: Target, property?: PropertyKey) => boolean;
  metadata?: (key: Key, value: unknown) => (target: Target, property?: PropertyKey) => void;
}

export function installReflectMetadata(): void {
  const reflect = Reflect as unknown as ReflectWithMetadata;
  if (typeof reflect.getMetadata === 'function') return;

  const store = new WeakMap<Target, Map<PropertyKey | undefined, Map<Key, unknown>>>();
  const ownMap = (
    target: Target,
    property: PropertyKey | undefined,
    create: boolean,
  ): Map<Key, unknown> | undefined => {
    let byProperty = store.get(target);
    if (!byProperty && create) store.set(target, (byProperty = new Map()));
    let entries = byProperty?.get(property);
    if (!entries && create) byProperty!.set(property, (entries = new Map()));
    return entries;
  };
  const find = (key: Key, target: Target, property?: PropertyKey): { found: boolean; value?: unknown } => {
    for (let object: Target | null = target; object !== null; object = Object.getPrototypeOf(object)) {
      const entries = ownMap(object, property, false);
      if (entries?.has(key)) return { found: true, value: entries.get(key) };
    }
    return { found: false };
  };

  reflect.defineMetadata = (key, value, target, property) => void ownMap(target, property, true)!.set(key, value);
  reflect.getOwnMetadata = (key, target, property) => ownMap(target, property, false)?.get(key);
  reflect.getMetadata = (key, target, property) => find(key, target, property).value;
  reflect.hasMetadata = (key, target, property) => find(key, target, property).found;
  reflect.metadata = (key, value) => (target, property) => reflect.defineMetadata!(key, value, target, property);
}
