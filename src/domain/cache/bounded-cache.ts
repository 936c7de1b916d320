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
  /** Loads under way (getOrLoad): concurrent misses of one key share one read. */
  private readonly loading = new Map<K, Promise<V | undefined>>();
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
    // Map order is insertion order: moving a hit to the end keeps the oldest use first. Only
    // worth its cost (a delete and an insert on every hit) once eviction is near: below half
    // full, nothing is evicted before the order is kept again.
    if (this.entries.size * 2 > this.opts.maxEntries) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
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
   * value back after the change dropped it. Misses of one key while a read is under way wait
   * for that read (under load, an expired entry would otherwise be read once per waiting
   * call); a caller arriving after an invalidation starts a new read.
   */
  getOrLoad(key: K, load: () => Promise<V>): Promise<V>;
  getOrLoad(key: K, load: () => Promise<V | undefined>): Promise<V | undefined>;
  getOrLoad(key: K, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const hit = this.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    const generation = this.generation;
    return this.loadOnce(key, async () => {
      const value = await load();
      if (value !== undefined && generation === this.generation) this.set(key, value);
      return value;
    });
  }

  /**
   * What `load` reads, shared with the callers that ask for the same key while it is under way;
   * not cached (for callers that check what was read before caching it). An invalidation of the
   * key lets the next caller start a new read.
   */
  loadOnce<T extends V | undefined>(key: K, load: () => Promise<T>): Promise<T> {
    const pending = this.loading.get(key);
    if (pending) return pending as Promise<T>;
    const read = load();
    this.loading.set(key, read);
    const forget = () => {
      if (this.loading.get(key) === read) this.loading.delete(key);
    };
    read.then(forget, forget);
    return read;
  }

  delete(key: K): void {
    this.generation++;
    this.entries.delete(key);
    this.loading.delete(key);
  }

  /** Drops every entry whose value matches (e.g. all cached sessions of one user), and every read under way. */
  deleteWhere(matches: (value: V, key: K) => boolean): void {
    this.generation++;
    for (const [key, entry] of this.entries) if (matches(entry.value, key)) this.entries.delete(key);
    this.loading.clear();
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
    this.loading.clear();
  }
}
