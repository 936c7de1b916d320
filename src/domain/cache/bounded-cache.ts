import type { Clock } from "../../clock.js";

export interface BoundedCacheOptions {
  /** Entries held at most; past it the least recently used goes first. */
  maxEntries: number;
  /** An entry older than this is a miss (and is dropped). */
  ttlSeconds: number;
}

/**
 * The one cache type: bounded in size (least recently used out first) and in age, with age
 * measured on the injected clock, so that tests move time instead of sleeping.
 */
export class BoundedCache<K, V> {
  private readonly entries = new Map<K, { value: V; at: number }>();
  /** Moves on every invalidation (delete, deleteWhere, clear), never on expiry or eviction. */
  private generation = 0;

  constructor(
    private readonly clock: Clock,
    private readonly opts: BoundedCacheOptions,
  ) {
    if (!(opts.maxEntries >= 1)) throw new Error("a cache holds at least one entry");
  }

  get size(): number {
    return this.entries.size;
  }

  get maxEntries(): number {
    return this.opts.maxEntries;
  }

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (this.clock.now().getTime() - entry.at >= this.opts.ttlSeconds * 1000) {
      this.entries.delete(key);
      return undefined;
    }
    // Map order is insertion order: moving a hit to the end keeps the oldest use first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    while (this.entries.size >= this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value as K);
    this.entries.set(key, { value, at: this.clock.now().getTime() });
  }

  /**
   * The cached value, or what `load` reads, which is cached when it is not undefined and no
   * invalidation came while it was read: a read that began before a change must not put the old
   * value back after the change dropped it.
   */
  getOrLoad(key: K, load: () => Promise<V>): Promise<V>;
  getOrLoad(key: K, load: () => Promise<V | undefined>): Promise<V | undefined>;
  async getOrLoad(key: K, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const generation = this.generation;
    const value = await load();
    if (value !== undefined && generation === this.generation) this.set(key, value);
    return value;
  }

  delete(key: K): void {
    this.generation++;
    this.entries.delete(key);
  }

  /** Drops every entry whose value matches (e.g. all cached sessions of one user). */
  deleteWhere(matches: (value: V, key: K) => boolean): void {
    this.generation++;
    for (const [key, entry] of this.entries) if (matches(entry.value, key)) this.entries.delete(key);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}
