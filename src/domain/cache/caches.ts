import type { Clock } from "../../clock.js";
import { BoundedCache, type BoundedCacheOptions } from "./bounded-cache.js";

export interface CacheSize {
  name: string;
  size: number;
  maxEntries: number;
}

/**
 * Makes every per-instance cache, with the configured size and age limits unless a cache needs
 * its own, and knows them all by name, so /metrics and tests can see that each stays bounded.
 */
export class Caches {
  private readonly made: { name: string; cache: BoundedCache<unknown, unknown> }[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly defaults: BoundedCacheOptions,
  ) {}

  create<K, V>(name: string, opts: Partial<BoundedCacheOptions> = {}): BoundedCache<K, V> {
    const cache = new BoundedCache<K, V>(this.clock, { ...this.defaults, ...opts });
    this.made.push({ name, cache: cache as BoundedCache<unknown, unknown> });
    return cache;
  }

  sizes(): CacheSize[] {
    return this.made.map(({ name, cache }) => ({ name, size: cache.size, maxEntries: cache.maxEntries }));
  }
}
