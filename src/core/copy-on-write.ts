/**
 * Collections shared read-only until one holder changes its own: most sessions keep the
 * subscription state they start with (nothing, or the auto-subscribe default on every channel)
 * for their whole life, so they share one Map and one Set instead of each holding copies (about
 * 500 bytes a connection). The holder of a shared collection takes its own copy before a change.
 */
const shared = new WeakSet<object>();

/** A Map to be shared: typed read-only, and copied by ownMap before any change. */
export function sharedMap<K, V>(entries: Iterable<readonly [K, V]> = []): ReadonlyMap<K, V> {
  const map = new Map(entries);
  shared.add(map);
  return map;
}

/** A Set to be shared: typed read-only, and copied by ownSet before any change. */
export function sharedSet<T>(values: Iterable<T> = []): ReadonlySet<T> {
  const set = new Set(values);
  shared.add(set);
  return set;
}

/** The map itself when its holder owns it, else a copy of the shared one for the holder to keep. */
export function ownMap<K, V>(map: ReadonlyMap<K, V>): Map<K, V> {
  return shared.has(map) ? new Map(map) : (map as Map<K, V>);
}

/** The set itself when its holder owns it, else a copy of the shared one for the holder to keep. */
export function ownSet<T>(set: ReadonlySet<T>): Set<T> {
  return shared.has(set) ? new Set(set) : (set as Set<T>);
}
