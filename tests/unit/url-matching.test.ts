import { describe, expect, it } from "vitest";
import { DomainError } from "../../src/domain/errors.js";
import { UrlMatcher } from "../../src/domain/orgpolicy/url-matcher.js";

/** One organization's lists, written the way admins write them (mixed case, Unicode, punycode). */
const ALLOW = [
  "example.com",
  "*.corp.example",
  "https://docs.example.org/docs",
  "bücher.de",
  "xn--mnchen-3ya.de", // münchen.de, given in punycode
  "http://intranet.local:8080/app/",
  "[::1]",
  "127.0.0.1:3000",
  "wss://chat.example.net",
];
const BLOCK = ["evil.com", "*.Evil.ORG", "example.com/admin", "https://docs.example.org/docs/private", "ftp://*", "10.0.0.1", "docs.example.org:8443"];

const INVALID = "INVALID";

/** URL -> the rule that must decide it ("default" when none matches; the default action blocks). */
const CORPUS: [string, string][] = [
  // exact hosts, case, trailing dots
  ["https://example.com/", "allow:example.com"],
  ["http://example.com/x", "allow:example.com"],
  ["HTTPS://EXAMPLE.COM/", "allow:example.com"],
  ["https://example.com./", "allow:example.com"],
  ["https://example.com../", INVALID],
  ["https://example.com:8443/", "allow:example.com"],
  // look-alike hosts: a rule's host is never a prefix or a substring match
  ["https://evil.com.example.com/", "default"],
  ["https://example.com.evil.com/", "default"],
  ["https://notexample.com/", "default"],
  ["https://evil.org.corp.example/", "allow:*.corp.example"],
  ["https://corp.example.evil.org/", "block:*.evil.org"],
  // userinfo never names the host
  ["https://example.com@evil.com/", "block:evil.com"],
  ["https://example.com:pass@evil.com/", "block:evil.com"],
  ["https://evil.com\\@example.com", "block:evil.com"],
  ["https://user:pw@example.com/", "allow:example.com"],
  // the host is percent-decoded by the URL parser before matching
  ["http://a%2eevil.org/", "block:*.evil.org"],
  // path prefixes: segment boundaries, dot segments, encodings
  ["https://example.com/admin", "block:example.com/admin"],
  ["https://example.com/admin/users", "block:example.com/admin"],
  ["https://example.com/administrator", "allow:example.com"],
  ["https://example.com/admin%2Fusers", "block:example.com/admin"], // block rules also read %2F as "/" (see below)
  ["https://example.com/%61dmin", "block:example.com/admin"],
  ["https://example.com/x/../admin", "block:example.com/admin"],
  ["https://example.com/x/%2e%2e/admin", "block:example.com/admin"],
  ["https://example.com/x/%2E%2E/admin/", "block:example.com/admin"],
  ["https://example.com\\admin", "block:example.com/admin"],
  ["https://example.com/ADMIN", "block:example.com/admin"], // block rules ignore case (see below)
  ["https://example.com/Admin2", "allow:example.com"],
  ["https://example.com/?next=/admin#admin", "allow:example.com"],
  // scheme- and port-specific rules, default ports
  ["https://docs.example.org/docs", "allow:https://docs.example.org/docs"],
  ["https://docs.example.org/docs/intro", "allow:https://docs.example.org/docs"],
  ["https://docs.example.org:443/docs", "allow:https://docs.example.org/docs"],
  ["https://docs.example.org/docsx", "default"],
  ["http://docs.example.org/docs", "default"],
  ["https://docs.example.org/docs/private/a", "block:https://docs.example.org/docs/private"],
  ["https://docs.example.org:8443/docs", "block:docs.example.org:8443"],
  ["http://intranet.local:8080/app/x", "allow:http://intranet.local:8080/app/"],
  ["http://intranet.local:8080/app", "default"],
  ["http://intranet.local/app/x", "default"],
  ["wss://chat.example.net/socket", "allow:wss://chat.example.net"],
  ["ws://chat.example.net/socket", "default"],
  ["ftp://example.com/file", "block:ftp://*"],
  // IDN both ways
  ["http://bücher.de/", "allow:xn--bcher-kva.de"],
  ["http://xn--bcher-kva.de/", "allow:xn--bcher-kva.de"],
  ["http://XN--BCHER-KVA.DE./", "allow:xn--bcher-kva.de"],
  ["https://münchen.de/", "allow:xn--mnchen-3ya.de"],
  ["https://MÜNCHEN.de/", "allow:xn--mnchen-3ya.de"],
  ["https://ｅｖｉｌ.com/", "block:evil.com"],
  // wildcards cover the apex and every subdomain, nothing else
  ["https://evil.org/", "block:*.evil.org"],
  ["https://a.b.evil.org/", "block:*.evil.org"],
  ["https://notevil.org/", "default"],
  ["https://corp.example/", "allow:*.corp.example"],
  // IP literals in every form the URL parser accepts
  ["http://[::1]/", "allow:[::1]"],
  ["http://[0:0:0:0:0:0:0:1]:8080/", "allow:[::1]"],
  ["http://127.0.0.1:3000/", "allow:127.0.0.1:3000"],
  ["http://0x7f.0.0.1:3000/", "allow:127.0.0.1:3000"],
  ["http://2130706433:3000/", "allow:127.0.0.1:3000"],
  ["http://127.1:3000/", "allow:127.0.0.1:3000"],
  ["http://127.0.0.1/", "default"],
  ["http://10.0.0.1/", "block:10.0.0.1"],
  ["http://012.0.0.1/", "block:10.0.0.1"], // octal
  ["http://0xa000001/", "block:10.0.0.1"],
  // not URLs we check
  ["javascript:alert(1)", INVALID],
  ["file:///etc/passwd", INVALID],
  ["data:text/html,hi", INVALID],
  ["not a url", INVALID],
  ["http://exa mple.com/", INVALID],
  ["//example.com/", INVALID],
];

describe("CheckUrlAccess decisions over a corpus of tricky URLs", () => {
  const m = new UrlMatcher(ALLOW, BLOCK, "block");

  it("has a corpus of at least 40 URLs", () => expect(CORPUS.length).toBeGreaterThanOrEqual(40));

  for (const [url, expected] of CORPUS)
    it(`${JSON.stringify(url)} -> ${expected}`, () => {
      if (expected === INVALID) {
        let err: unknown;
        try {
          m.check(url);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(DomainError);
        expect((err as DomainError).reason).toBe("URL_INVALID");
        return;
      }
      const d = m.check(url);
      expect(d.matchedRule).toBe(expected);
      expect(d.allowed).toBe(expected.startsWith("allow:"));
    });
});

describe("rule semantics", () => {
  it("block beats allow whatever the specificity; the most specific rule of the winning kind is reported", () => {
    const m = new UrlMatcher(["https://a.example/x/y", "a.example"], ["*.example", "*.a.example"], "allow");
    expect(m.check("https://a.example/x/y/z")).toMatchObject({ allowed: false, matchedRule: "block:*.a.example" });
    const allowOnly = new UrlMatcher(["*.example", "a.example", "https://a.example/x"], [], "block");
    expect(allowOnly.check("https://a.example/x/1").matchedRule).toBe("allow:https://a.example/x");
    expect(allowOnly.check("http://a.example/x/1").matchedRule).toBe("allow:a.example");
    expect(allowOnly.check("http://b.example/").matchedRule).toBe("allow:*.example");
  });

  it("the default action decides when nothing matches, and says so", () => {
    expect(new UrlMatcher([], [], "allow").check("https://x.example/")).toMatchObject({ allowed: true, matchedRule: "default" });
    const d = new UrlMatcher([], [], "block").check("https://x.example/");
    expect(d).toMatchObject({ allowed: false, matchedRule: "default" });
    expect(d.message).toMatch(/default action blocks/);
  });

  it('"*" matches every host; with a scheme or a path, only those', () => {
    const m = new UrlMatcher(["example.com"], ["http://*", "*/wp-admin"], "allow");
    expect(m.check("http://example.com/").matchedRule).toBe("block:http://*");
    expect(m.check("https://example.com/").matchedRule).toBe("allow:example.com");
    expect(m.check("https://anything.test/wp-admin/x").matchedRule).toBe("block:*/wp-admin");
    expect(m.check("https://[2001:db8::1]/wp-admin").matchedRule).toBe("block:*/wp-admin");
    expect(m.check("https://anything.test/").matchedRule).toBe("default");
  });

  it("a wildcard on a TLD covers it, and a port given with no scheme applies to every scheme", () => {
    const m = new UrlMatcher([], ["*.zip", "example.com:8080"], "allow");
    expect(m.check("https://download.zip/").allowed).toBe(false);
    expect(m.check("http://example.com:8080/").allowed).toBe(false);
    expect(m.check("wss://example.com:8080/").allowed).toBe(false);
    expect(m.check("https://example.com/").allowed).toBe(true);
  });
});

describe("block rules fail closed: paths and hosts that lenient servers treat as the blocked one", () => {
  const BLOCKED = "block:intranet.example.com/admin";
  const m = new UrlMatcher(
    ["intranet.example.com", "[::ffff:10.0.0.2]"],
    ["intranet.example.com/admin", "10.0.0.1", "[::ffff:10.0.0.4]", "10.0.0.5/admin", "files.example.com/a%2Fb", "*/x"],
    "allow",
  );

  /** URL -> the rule that must decide it; the default action allows, so a bypass would show as "allow:" or "default". */
  const bypasses: [string, string][] = [
    ["https://intranet.example.com/admin", BLOCKED],
    // servers that merge slashes
    ["https://intranet.example.com//admin", BLOCKED],
    ["https://intranet.example.com///admin//users", BLOCKED],
    // case-insensitive servers (IIS)
    ["https://intranet.example.com/Admin", BLOCKED],
    ["https://intranet.example.com/ADMIN", BLOCKED],
    ["https://INTRANET.example.com.//aDmIn/Users", BLOCKED],
    // servers that strip ";params" from segments (Tomcat, Spring)
    ["https://intranet.example.com/admin;jsessionid=1", BLOCKED],
    ["https://intranet.example.com/admin;/x", BLOCKED],
    ["https://intranet.example.com/;x/admin", BLOCKED],
    ["https://intranet.example.com/public/..;/admin", BLOCKED],
    ["https://intranet.example.com/admin%3bjsessionid=1", BLOCKED],
    // escaped separators, decoded by the server or a proxy in front of it
    ["https://intranet.example.com/%2fadmin", BLOCKED],
    ["https://intranet.example.com/%2Fadmin", BLOCKED],
    ["https://intranet.example.com/%5cadmin", BLOCKED],
    ["https://intranet.example.com/public/..%2fadmin", BLOCKED],
    ["https://intranet.example.com/public/..%2Fadmin", BLOCKED],
    ["https://intranet.example.com/public/..%5cadmin", BLOCKED],
    ["https://intranet.example.com/public/%2e%2e%2fadmin", BLOCKED],
    ["https://intranet.example.com/.%2fadmin", BLOCKED],
    ["https://intranet.example.com/a/b/..%2f..%2f..%2fadmin", BLOCKED],
    ["https://intranet.example.com/admin%2fusers", BLOCKED],
    ["https://intranet.example.com/%61dmin", BLOCKED],
    ["https://intranet.example.com/%41DMIN", BLOCKED],
    // double and triple encoding
    ["https://intranet.example.com/%252fadmin", BLOCKED],
    ["https://intranet.example.com/public/..%252fadmin", BLOCKED],
    ["https://intranet.example.com/%25252fadmin", BLOCKED],
    ["https://intranet.example.com/%2561dmin", BLOCKED],
    // a strict match still counts when the loose form differs: a server that keeps %2F serves /x/..%2Fadmin under /x
    ["https://other.example/x/..%2fadmin", "block:*/x"],
    // a rule path with an escaped slash also blocks the decoded one
    ["https://files.example.com/a%2Fb/c", "block:files.example.com/a%2Fb"],
    ["https://files.example.com/a/b/c", "block:files.example.com/a%2Fb"],
    ["https://files.example.com/A%2fB", "block:files.example.com/a%2Fb"],
    // IPv4-mapped IPv6 literals, in every spelling (WHATWG writes them all as [::ffff:a00:1])
    ["http://[::ffff:10.0.0.1]/", "block:10.0.0.1"],
    ["http://[::ffff:a00:1]/", "block:10.0.0.1"],
    ["http://[::FFFF:0A00:0001]:8080/x", "block:10.0.0.1"],
    ["http://[0:0:0:0:0:ffff:10.0.0.1]/", "block:10.0.0.1"],
    // the NAT64 well-known prefix reaches the IPv4 address from an IPv6-only network
    ["http://[64:ff9b::10.0.0.1]/", "block:10.0.0.1"],
    // a block rule written as a mapped address blocks the IPv4 address too
    ["http://10.0.0.4/", "block:[::ffff:a00:4]"],
    ["http://[::ffff:10.0.0.4]/", "block:[::ffff:a00:4]"],
    // host and path loosened together
    ["http://[::ffff:10.0.0.5]//ADMIN;x", "block:10.0.0.5/admin"],
  ];

  /** Near misses: what a block rule must not take. */
  const notBlocked: [string, string][] = [
    ["https://intranet.example.com/administrator", "allow:intranet.example.com"],
    ["https://intranet.example.com/admin2", "allow:intranet.example.com"],
    ["https://intranet.example.com/Administrator", "allow:intranet.example.com"],
    ["https://intranet.example.com/admin.php", "allow:intranet.example.com"],
    ["https://intranet.example.com/admin%2dx", "allow:intranet.example.com"],
    ["https://intranet.example.com/public/admin", "allow:intranet.example.com"],
    ["https://intranet.example.com/public/admin;x", "allow:intranet.example.com"],
    ["https://intranet.example.com/?next=/admin", "allow:intranet.example.com"],
    ["https://intranet.example.com/#/admin", "allow:intranet.example.com"],
    ["https://intranet.example.com/%2e%2e/public", "allow:intranet.example.com"],
    ["https://files.example.com/a/bc", "default"],
    ["https://other.example/xy", "default"],
    ["http://10.0.0.1.example/", "default"],
    ["http://10.0.0.10/", "default"],
    ["http://[::1]/", "default"],
    ["http://[::ffff:a00:2]/", "allow:[::ffff:a00:2]"],
    ["http://[::ffff:10.0.0.3]/", "default"],
    ["http://[64:ff9b::10.0.0.2]/", "default"],
    ["http://[::ffff:10.0.0.5]/administrator", "default"],
  ];

  for (const [url, expected] of [...bypasses, ...notBlocked])
    it(`${JSON.stringify(url)} -> ${expected}`, () => {
      const d = m.check(url);
      expect(d.matchedRule).toBe(expected);
      expect(d.allowed).toBe(!expected.startsWith("block:"));
    });

  it("allow rules stay strict: no case folding, escaped separators, merged slashes, ;params or IPv4 mapping", () => {
    const strict = new UrlMatcher(["intranet.example.com/Docs", "intranet.example.com/public", "10.0.0.2"], [], "block");
    const decide = (url: string) => strict.check(url).matchedRule;
    expect(decide("https://intranet.example.com/Docs/x")).toBe("allow:intranet.example.com/Docs");
    expect(decide("https://intranet.example.com/%44ocs")).toBe("allow:intranet.example.com/Docs"); // unreserved escape: the same URL
    expect(decide("http://10.0.0.2/")).toBe("allow:10.0.0.2");
    for (const url of [
      "https://intranet.example.com/docs",
      "https://intranet.example.com/DOCS",
      "https://intranet.example.com//Docs",
      "https://intranet.example.com/Docs;x",
      "https://intranet.example.com/%2fpublic",
      "https://intranet.example.com/public%2fx",
      "https://intranet.example.com/x/..%2fpublic",
      "https://intranet.example.com/%252fpublic",
      "http://[::ffff:10.0.0.2]/",
    ])
      expect([url, decide(url)]).toEqual([url, "default"]);
  });

  it("a block rule loosely matched still beats a more specific allow rule, and is reported by its own text", () => {
    const both = new UrlMatcher(["https://intranet.example.com/admin/help"], ["intranet.example.com/Admin"], "allow");
    expect(both.check("https://intranet.example.com/admin/help")).toMatchObject({ allowed: false, matchedRule: "block:intranet.example.com/Admin" });
    expect(both.check("https://intranet.example.com/ADMIN/help").matchedRule).toBe("block:intranet.example.com/Admin");
  });

  it("scheme and port of a block rule are still compared exactly", () => {
    const scoped = new UrlMatcher([], ["https://intranet.example.com:8443/admin"], "allow");
    expect(scoped.check("https://intranet.example.com:8443//ADMIN").allowed).toBe(false);
    expect(scoped.check("http://intranet.example.com:8443//ADMIN").allowed).toBe(true);
    expect(scoped.check("https://intranet.example.com//ADMIN").allowed).toBe(true);
  });
});
