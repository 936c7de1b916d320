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
  ["https://example.com/admin%2Fusers", "allow:example.com"],
  ["https://example.com/%61dmin", "block:example.com/admin"],
  ["https://example.com/x/../admin", "block:example.com/admin"],
  ["https://example.com/x/%2e%2e/admin", "block:example.com/admin"],
  ["https://example.com/x/%2E%2E/admin/", "block:example.com/admin"],
  ["https://example.com\\admin", "block:example.com/admin"],
  ["https://example.com/ADMIN", "allow:example.com"], // paths are case-sensitive
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
