import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { UrlMatcher } from "../../src/domain/orgpolicy/url-matcher.js";

/** 1,000 rules of the shapes organizations write: exact hosts, wildcards, paths, scheme and port rules. */
function thousandRules(): { allow: string[]; block: string[] } {
  const allow: string[] = [];
  const block: string[] = [];
  for (let i = 0; i < 350; i++) allow.push(`host${i}.site${i % 50}.com`);
  for (let i = 0; i < 300; i++) allow.push(`*.zone${i}.net`);
  for (let i = 0; i < 150; i++) allow.push(`https://app${i % 30}.example.io/p${i}`);
  for (let i = 0; i < 150; i++) block.push(`*.bad${i}.org`);
  for (let i = 0; i < 50; i++) block.push(`host${i}.site${i % 50}.com/admin`);
  return { allow, block };
}

const URLS = [
  "https://host7.site7.com/",
  "https://host7.site7.com/admin/x",
  "https://a.b.zone5.net/path",
  "https://zone299.net/",
  "https://app3.example.io/p3/x",
  "https://app3.example.io/other",
  "https://deep.sub.bad12.org/",
  "https://unknown.test/",
  "https://x.y.z.w.v.u.example.com/",
  "http://[::1]/",
];

describe("URL matching is indexed by host", () => {
  const { allow, block } = thousandRules();
  const big = new UrlMatcher(allow, block, "block");

  it("compiles 1,000 rules", () => expect(allow.length + block.length).toBe(1000));

  it("a check compares a handful of rules, not the thousand", () => {
    const examined = URLS.map((u) => big.check(u).examined);
    // The busiest host (app3.example.io) holds 5 path rules, one per first segment; a linear scan would compare 1,000.
    expect(Math.max(...examined)).toBeLessThanOrEqual(2);
    expect(big.check("https://unknown.test/").examined).toBe(0);
    expect(big.check("https://host7.site7.com/admin/x")).toMatchObject({ matchedRule: "block:host7.site7.com/admin", examined: 2 });
    expect(big.check("https://a.b.zone5.net/path")).toMatchObject({ matchedRule: "allow:*.zone5.net", examined: 1 });
    expect(big.check("https://deep.sub.bad12.org/").matchedRule).toBe("block:*.bad12.org");
    expect(big.check("https://app3.example.io/p33/y")).toMatchObject({ matchedRule: "allow:https://app3.example.io/p33", examined: 1 });
    // The loose forms block rules also match are looked up, not scanned for.
    expect(big.check("https://host7.site7.com//ADMIN;x/y")).toMatchObject({ matchedRule: "block:host7.site7.com/admin", examined: 2 });
    expect(big.check("https://host7.site7.com/p/..%2fadmin")).toMatchObject({ matchedRule: "block:host7.site7.com/admin", examined: 2 });
    expect(big.check("https://[::ffff:127.0.0.1]/")).toMatchObject({ matchedRule: "default", examined: 0 });
  });

  it("block rules are indexed by their strict and their loose first segment, each compared once", () => {
    const m = new UrlMatcher(
      Array.from({ length: 1000 }, (_, i) => `*/area${i}/sub`),
      ["*/area7", "*/Area9", "*/x;v=1"],
      "allow",
    );
    // Found by the URL's loose first segment alone.
    expect(m.check("https://any.example/AREA7")).toMatchObject({ matchedRule: "block:*/area7", examined: 1 });
    expect(m.check("https://any.example/q/..%2farea7/sub")).toMatchObject({ matchedRule: "block:*/area7", examined: 1 });
    // "*/Area9" sits under "Area9" and "area9": a URL whose two segments are those two compares it once.
    expect(m.check("https://any.example/Area9/x")).toMatchObject({ matchedRule: "block:*/Area9", examined: 1 });
    expect(m.check("https://any.example/AREA9")).toMatchObject({ matchedRule: "block:*/Area9", examined: 1 });
    expect(m.check("https://any.example/area9/sub")).toMatchObject({ matchedRule: "block:*/Area9", examined: 2 });
    // Indexed under its strict segment "x;v=1" and its loose one "x".
    expect(m.check("https://any.example/x;v=1/y")).toMatchObject({ matchedRule: "block:*/x;v=1", examined: 1 });
    expect(m.check("https://any.example/X")).toMatchObject({ matchedRule: "block:*/x;v=1", examined: 1 });
    expect(m.check("https://any.example/xy")).toMatchObject({ matchedRule: "default", examined: 0 });
  });

  it("a URL with an IPv4-mapped host also looks up the IPv4 address, for block rules only", () => {
    const m = new UrlMatcher(["10.0.0.1/ok", "[::ffff:10.0.0.1]/fine"], ["10.0.0.1/admin"], "block");
    expect(m.check("http://[::ffff:10.0.0.1]/admin")).toMatchObject({ matchedRule: "block:10.0.0.1/admin", examined: 1 });
    expect(m.check("http://[::ffff:10.0.0.1]/ok")).toMatchObject({ matchedRule: "default", examined: 0 });
    expect(m.check("http://[::ffff:10.0.0.1]/fine")).toMatchObject({ matchedRule: "allow:[::ffff:a00:1]/fine", examined: 1 });
    expect(m.check("http://10.0.0.1/fine")).toMatchObject({ matchedRule: "default", examined: 0 });
  });

  it("rules for every host are indexed by their path's first segment too", () => {
    const m = new UrlMatcher(
      Array.from({ length: 1000 }, (_, i) => `*/area${i}/sub`),
      ["*/area7"],
      "allow",
    );
    expect(m.check("https://any.example/area7/sub/x")).toMatchObject({ matchedRule: "block:*/area7", examined: 2 });
    expect(m.check("https://any.example/area8/sub/x")).toMatchObject({ matchedRule: "allow:*/area8/sub", examined: 1 });
    expect(m.check("https://any.example/area8/subway")).toMatchObject({ matchedRule: "default", examined: 1 });
    expect(m.check("https://any.example/")).toMatchObject({ matchedRule: "default", examined: 0 });
  });

  it("100,000 checks against 1,000 rules cost about what they cost against 10", () => {
    const small = new UrlMatcher(allow.slice(0, 5), block.slice(0, 5), "block");
    const run = (m: UrlMatcher, n: number) => {
      const start = performance.now();
      for (let i = 0; i < n; i++) m.check(URLS[i % URLS.length]!);
      return performance.now() - start;
    };
    run(big, 20_000); // warm up
    run(small, 20_000);
    // Interleaved, best of five each: a pause of the shared machine hits both sides or neither.
    let bigMs = Infinity;
    let smallMs = Infinity;
    for (let round = 0; round < 5; round++) {
      bigMs = Math.min(bigMs, run(big, 100_000));
      smallMs = Math.min(smallMs, run(small, 100_000));
    }
    const ratio = bigMs / smallMs;
    console.log(
      `url matcher: 100k checks, 1,000 rules ${bigMs.toFixed(0)} ms (${Math.round(100_000 / (bigMs / 1000))} checks/s), ` +
        `10 rules ${smallMs.toFixed(0)} ms; ratio ${ratio.toFixed(2)}`,
    );
    // A linear scan compares 100x the rules: several times slower even next to the URL parse.
    expect(ratio).toBeLessThan(3);
  });
});
