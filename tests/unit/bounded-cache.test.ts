import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { BoundedCache } from "../../src/domain/cache/bounded-cache.js";
import { Caches } from "../../src/domain/cache/caches.js";

describe("BoundedCache", () => {
  it("holds at most its limit however many distinct keys pass through (a million lookups)", () => {
    const cache = new BoundedCache<string, number>(new ManualClock(), { maxEntries: 1000, ttlSeconds: 60 });
    let largest = 0;
    for (let i = 0; i < 1_000_000; i++) {
      if (cache.get(`session-${i}`) === undefined) cache.set(`session-${i}`, i);
      if (cache.size > largest) largest = cache.size;
    }
    expect(largest).toBe(1000);
    // The newest entries are the ones kept.
    expect(cache.get("session-999999")).toBe(999_999);
    expect(cache.get("session-0")).toBeUndefined();
  });

  it("getOrLoad caches what it read, unless an invalidation came while it was reading", async () => {
    const cache = new BoundedCache<string, string>(new ManualClock(), { maxEntries: 10, ttlSeconds: 60 });
    let reads = 0;
    expect(await cache.getOrLoad("a", async () => `A${++reads}`)).toBe("A1");
    expect(await cache.getOrLoad("a", async () => `A${++reads}`)).toBe("A1");
    // A change drops "b" while its old value is being read: the old value is returned, not kept.
    let release!: () => void;
    const slow = cache.getOrLoad("b", () => new Promise<string>((r) => (release = () => r("old"))));
    cache.delete("b");
    release();
    expect(await slow).toBe("old");
    expect(await cache.getOrLoad("b", async () => "new")).toBe("new");
    // Nothing is cached for undefined.
    expect(await cache.getOrLoad("c", async () => undefined)).toBeUndefined();
    expect(await cache.getOrLoad("c", async () => "C")).toBe("C");
  });

  it("getOrLoad: concurrent misses of one key share one read; a caller after an invalidation reads anew", async () => {
    const cache = new BoundedCache<string, string>(new ManualClock(), { maxEntries: 10, ttlSeconds: 60 });
    let reads = 0;
    const releases: ((v: string) => void)[] = [];
    const load = () => new Promise<string>((r) => (reads++, releases.push(r)));
    const waiting = Array.from({ length: 5 }, () => cache.getOrLoad("k", load));
    expect(reads).toBe(1);
    releases[0]!("v1");
    expect(await Promise.all(waiting)).toEqual(Array(5).fill("v1"));
    // A change while a read is under way: later callers do not join the old read.
    cache.delete("k");
    const before = cache.getOrLoad("k", load);
    cache.delete("k");
    const after = cache.getOrLoad("k", load);
    expect(reads).toBe(3);
    releases[1]!("old");
    releases[2]!("new");
    expect([await before, await after]).toEqual(["old", "new"]);
    expect(cache.get("k")).toBe("new");
    // A failed read is not cached, and the next miss reads again.
    await expect(cache.getOrLoad("f", () => Promise.reject(new Error("down")))).rejects.toThrow("down");
    expect(await cache.getOrLoad("f", async () => "up")).toBe("up");
  });

  it("evicts the least recently used entry first, not the oldest inserted", () => {
    const cache = new BoundedCache<string, string>(new ManualClock(), { maxEntries: 2, ttlSeconds: 60 });
    cache.set("a", "A");
    cache.set("b", "B");
    expect(cache.get("a")).toBe("A");
    cache.set("c", "C");
    expect([cache.get("a"), cache.get("b"), cache.get("c")]).toEqual(["A", undefined, "C"]);
  });

  it("forgets an entry once it is as old as its TTL on the injected clock", () => {
    const clock = new ManualClock();
    const cache = new BoundedCache<string, string>(clock, { maxEntries: 10, ttlSeconds: 5 });
    cache.set("k", "v");
    clock.advance(4);
    expect(cache.get("k")).toBe("v");
    clock.advance(1);
    expect(cache.get("k")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("drops entries by value (all cached sessions of one user)", () => {
    const cache = new BoundedCache<string, { user: string }>(new ManualClock(), { maxEntries: 10, ttlSeconds: 60 });
    cache.set("s1", { user: "u1" });
    cache.set("s2", { user: "u2" });
    cache.set("s3", { user: "u1" });
    cache.deleteWhere((v) => v.user === "u1");
    expect([cache.get("s1"), cache.get("s2"), cache.get("s3")]).toEqual([undefined, { user: "u2" }, undefined]);
  });

  it("refuses a limit below one entry", () => {
    expect(() => new BoundedCache(new ManualClock(), { maxEntries: 0, ttlSeconds: 1 })).toThrow();
  });
});

describe("Caches", () => {
  it("makes caches with the defaults unless one asks otherwise, and reports each one's size", () => {
    const caches = new Caches(new ManualClock(), { maxEntries: 3, ttlSeconds: 5 });
    const sessions = caches.create<string, number>("sessions");
    const jwks = caches.create<string, number>("jwks", { maxEntries: 1 });
    for (let i = 0; i < 10; i++) {
      sessions.set(`s${i}`, i);
      jwks.set(`j${i}`, i);
    }
    expect(caches.sizes()).toEqual([
      { name: "sessions", size: 3, maxEntries: 3 },
      { name: "jwks", size: 1, maxEntries: 1 },
    ]);
  });
});
