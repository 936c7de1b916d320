import { describe, expect, it } from "vitest";
import { DomainError } from "../../src/domain/errors.js";
import { normalizeRules } from "../../src/domain/orgpolicy/org-policy-document.js";
import { embeddedIpv4, loosePath } from "../../src/domain/orgpolicy/url-loose.js";
import { normalizePercentEncoding, normalizeUrl, parseUrlRule, pathUnder, urlText } from "../../src/domain/orgpolicy/url-normalize.js";

function failure(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return err as DomainError;
  }
  throw new Error("expected a failure");
}

describe("URL rules are normalized as URLs are", () => {
  const cases: [string, string][] = [
    ["example.com", "example.com"],
    ["HTTPS://Example.COM/Docs", "https://example.com/Docs"],
    ["*.Bücher.DE", "*.xn--bcher-kva.de"],
    ["bücher.de", "xn--bcher-kva.de"],
    ["XN--BCHER-KVA.DE", "xn--bcher-kva.de"],
    ["ｅｘａｍｐｌｅ.com", "example.com"],
    ["example.com.", "example.com"],
    ["*.example.com.", "*.example.com"],
    // An explicit port stays, even the scheme's default: a rule without one covers every port.
    ["example.com:443", "example.com:443"],
    ["https://example.com:443/x", "https://example.com:443/x"],
    ["example.com/", "example.com"],
    ["example.com/docs/", "example.com/docs/"],
    ["example.com/a/../b", "example.com/b"],
    ["example.com/a/%2e%2E/b", "example.com/b"],
    ["example.com/%7e%2f%41", "example.com/~%2FA"],
    ["example.com\\docs", "example.com/docs"],
    ["example.com/a%20b|c", "example.com/a%20b|c"],
    ["example.com/ü", "example.com/%C3%BC"],
    // A rule's text keeps its case, ";params" and escaped slashes: only matching reads block rules loosely.
    ["example.com/Admin;v=1", "example.com/Admin;v=1"],
    ["example.com/a%2fb//c", "example.com/a%2Fb//c"],
    ["[::ffff:10.0.0.1]", "[::ffff:a00:1]"],
    ["[0:0::1]:8080/x", "[::1]:8080/x"],
    ["0x7f.1", "127.0.0.1"],
    ["2130706433", "127.0.0.1"],
    ["*", "*"],
    ["https://*", "https://*"],
    ["*/login", "*/login"],
    ["  wss://Chat.Example.net  ", "wss://chat.example.net"],
    ["ftp://files.example.com:21", "ftp://files.example.com:21"],
  ];
  for (const [rule, normalized] of cases)
    it(`${JSON.stringify(rule)} -> ${normalized}`, () => {
      expect(parseUrlRule(rule).text).toBe(normalized);
      // Normalizing twice changes nothing (stored rules are parsed again when compiled).
      expect(parseUrlRule(normalized).text).toBe(normalized);
    });

  const invalid: [string, RegExp][] = [
    ["", /empty/],
    ["   ", /empty/],
    ["file:///etc/passwd", /scheme/],
    ["javascript://x", /scheme/],
    ["exa mple.com", /spaces/],
    ["user@example.com", /userinfo/],
    ["example.com/?q=1", /query/],
    ["example.com/#top", /fragment/],
    ["*.*.example.com", /\*/],
    ["ex*ample.com", /\*/],
    ["*example.com", /\*/],
    ["example.com:99999", /port/],
    ["example.com:", /port/],
    ["example.com:http", /port/],
    ["*.127.0.0.1", /IP/],
    ["*.[::1]", /IPv6/],
    ["[::1", /bracket/],
    ["[::1]x", /after the IPv6/],
    ["https://", /host is empty/],
    ["example..com", /empty label/],
    ["example.123", /cannot be parsed/],
    ["exa<mple.com", /cannot be parsed/],
  ];
  for (const [rule, why] of invalid)
    it(`refuses ${JSON.stringify(rule)}`, () => {
      const err = failure(() => parseUrlRule(rule, "access_control.block[7]"));
      expect(err.kind).toBe("invalid_argument");
      expect(err.reason).toBe("URL_INVALID");
      expect(err.message).toContain("access_control.block[7]");
      expect(err.message).toContain(JSON.stringify(rule));
      expect(err.message).toMatch(why);
      expect(err.extra.violations?.[0]?.field).toBe("access_control.block[7]");
    });

  it("a list is normalized and deduplicated in order; a bad rule is named by its index", () => {
    expect(normalizeRules(["B.example", "b.example.", "a.example", "HTTP://B.EXAMPLE"], "access_control.allow")).toEqual([
      "b.example",
      "a.example",
      "http://b.example",
    ]);
    const err = failure(() => normalizeRules(["ok.example", "bad rule"], "access_control.allow"));
    expect(err.message).toContain("access_control.allow[1]");
    expect(
      failure(() =>
        normalizeRules(
          Array.from({ length: 5001 }, (_, i) => `h${i}.example`),
          "access_control.block",
        ),
      ).message,
    ).toMatch(/at most 5000/);
  });
});

describe("URL normalization", () => {
  it("follows WHATWG: case, IDN, IPv4 forms, IPv6, default ports, userinfo, backslashes", () => {
    expect(urlText(normalizeUrl("HTTPS://user:pw@Bücher.DE.:443/A/./b/../c?q#f"))).toBe("https://xn--bcher-kva.de/A/c");
    expect(normalizeUrl("http://0x7f.0.0.1/").host).toBe("127.0.0.1");
    expect(normalizeUrl("http://[0:0::1]:80/").host).toBe("[::1]");
    expect(normalizeUrl("http://[0:0::1]:80/").port).toBe(80);
    expect(normalizeUrl("https://example.com/").port).toBe(443);
    expect(normalizeUrl("ftp://example.com/").port).toBe(21);
    expect(normalizeUrl("https://evil.com\\@example.com/").host).toBe("evil.com");
    expect(normalizeUrl("https://example.com@evil.com/").host).toBe("evil.com");
  });

  it("percent-encoding: unreserved decoded, others uppercased, %2F kept", () => {
    expect(normalizePercentEncoding("/%7e%41%2f%2F%c3%bc%zz")).toBe("/~A%2F%2F%C3%BC%zz");
  });

  it("path prefixes match on segment boundaries", () => {
    expect(pathUnder("/docs", "/docs")).toBe(true);
    expect(pathUnder("/docs", "/docs/x")).toBe(true);
    expect(pathUnder("/docs", "/docsx")).toBe(false);
    expect(pathUnder("/docs", "/docs%2Fx")).toBe(false);
    expect(pathUnder("/docs/", "/docs/x")).toBe(true);
    expect(pathUnder("/docs/", "/docs")).toBe(false);
  });

  for (const bad of [
    "",
    "not a url",
    "//example.com/",
    "example.com",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "data:text/html,x",
    "mailto:a@example.com",
    "http://exa mple.com/",
    "http://example.com../",
    "http://[::1/",
    "https://example.123/",
  ])
    it(`refuses ${JSON.stringify(bad)} with URL_INVALID on field url`, () => {
      const err = failure(() => normalizeUrl(bad));
      expect([err.kind, err.reason]).toEqual(["invalid_argument", "URL_INVALID"]);
      expect(err.extra.violations?.[0]?.field).toBe("url");
    });
});

describe("the loose form block rules also match", () => {
  const loose: [string, string][] = [
    ["/", "/"],
    ["/Admin/Users", "/admin/users"],
    ["//admin///x/", "/admin/x/"],
    ["/admin;jsessionid=1", "/admin"],
    ["/admin;/x", "/admin/x"],
    ["/;x/admin", "/admin"],
    ["/public/..;/admin", "/admin"],
    ["/%2fadmin", "/admin"],
    ["/%5Cadmin", "/admin"],
    ["/x/..%2Fadmin", "/admin"],
    ["/x/%2e%2e%2fadmin", "/admin"],
    ["/a/b/..%2F..%2F..%2F..%2Fadmin", "/admin"],
    ["/x/..%252fadmin", "/admin"],
    ["/%25252fadmin", "/admin"],
    ["/%2525252fadmin", "/%2fadmin"], // three rounds at most
    ["/admin%3Bx", "/admin"],
    ["/a/b/..%2f", "/a/"],
    ["/a%2F.", "/a/"],
    ["/%C3%BC/%c3%9C", "/%c3%bc/%c3%9c"], // non-ASCII stays escaped; ASCII case folded
    ["/a%20b", "/a b"],
  ];
  for (const [path, expected] of loose) it(`${path} -> ${expected}`, () => expect(loosePath(path)).toBe(expected));

  it("is idempotent once the decoding rounds are not exhausted", () => {
    for (const [path, expected] of loose) if (!path.includes("%2525")) expect(loosePath(expected)).toBe(expected);
  });

  it("reads an IPv6 literal that embeds an IPv4 address as that address", () => {
    const ipv4Of = (url: string) => embeddedIpv4(normalizeUrl(url).host);
    expect(normalizeUrl("http://[::ffff:10.0.0.1]/").host).toBe("[::ffff:a00:1]");
    expect(ipv4Of("http://[::ffff:10.0.0.1]/")).toBe("10.0.0.1");
    expect(ipv4Of("http://[::FFFF:0A00:0001]/")).toBe("10.0.0.1");
    expect(ipv4Of("http://[0:0:0:0:0:ffff:0:0]/")).toBe("0.0.0.0");
    expect(ipv4Of("http://[::ffff:255.255.255.255]/")).toBe("255.255.255.255");
    expect(ipv4Of("http://[64:ff9b::192.0.2.33]/")).toBe("192.0.2.33");
    expect(ipv4Of("http://[64:ff9b::1]/")).toBe("0.0.0.1");
    for (const other of [
      "http://[::1]/",
      "http://[::10.0.0.1]/",
      "http://[::ffff:0:10.0.0.1]/",
      "http://[2002:a00:1::]/",
      "http://[64:ff9b:1::a00:1]/",
      "http://10.0.0.1/",
      "http://example.com/",
    ])
      expect([other, ipv4Of(other)]).toEqual([other, undefined]);
  });
});
