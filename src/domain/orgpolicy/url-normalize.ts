import { DomainError } from "../errors.js";

/**
 * One normalization for URLs and URL rules, built on WHATWG URL (node's global URL) so that a
 * rule and a URL that a browser treats as the same host and path compare equal: lowercase
 * scheme and host, IDN as punycode, IPv4 and IPv6 literals in canonical form, no trailing dot,
 * default ports dropped, userinfo ignored, dot segments resolved, percent-encoding normalized.
 * This is the strict form every rule is matched against; block rules also match the looser
 * form of url-loose.ts (case, escaped separators, `;params`, merged slashes, mapped IPv4).
 */

export const URL_SCHEMES = ["http", "https", "ws", "wss", "ftp"] as const;
export type UrlScheme = (typeof URL_SCHEMES)[number];

const SCHEMES = new Set<string>(URL_SCHEMES);
const DEFAULT_PORTS: Record<UrlScheme, number> = { http: 80, https: 443, ws: 80, wss: 443, ftp: 21 };

/** A URL as matching sees it. */
export interface NormalizedUrl {
  scheme: UrlScheme;
  /** Punycode, lowercase, no trailing dot; IPv6 in brackets. */
  host: string;
  /** The port the URL reaches (the scheme's default when none is written). */
  port: number;
  /** Starts with "/", dot segments resolved, percent-encoding normalized; no query or fragment. */
  path: string;
  isIp: boolean;
}

export type HostPattern = { kind: "exact"; host: string } | { kind: "suffix"; domain: string } | { kind: "any" };

/** A parsed rule `[scheme://]host[:port][/path-prefix]`. */
export interface UrlRule {
  scheme?: UrlScheme;
  host: HostPattern;
  /** Absent: every port. */
  port?: number;
  /** Absent: every path. Otherwise matched on segment boundaries. */
  path?: string;
  /** The canonical text of the rule: what is stored, listed and reported. */
  text: string;
}

const urlInvalid = (why: string) => new DomainError("invalid_argument", "URL_INVALID", `url: ${why}`, { violations: [{ field: "url", description: why }] });

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * Decodes percent-escapes of unreserved characters and uppercases the hex of the others, so
 * `%7e` and `~`, `%2f` and `%2F` compare equal. An escaped slash stays escaped: it is not a
 * segment boundary (except in the loose form block rules also match).
 */
export function normalizePercentEncoding(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

/** Lowercase punycode without the trailing dot; undefined when the host is not one a URL may carry. */
function canonicalHost(hostname: string): string | undefined {
  const host = hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
  // "a..b" or "example.com.." would be a different name to some resolvers: refused, not guessed.
  if (!host || (!host.startsWith("[") && host.split(".").some((label) => label === ""))) return undefined;
  return host;
}

const isIpHost = (host: string) => host.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(host);

/** Parses a URL as a browser would; malformed, or a scheme other than http(s), ws(s), ftp -> URL_INVALID. */
export function normalizeUrl(input: string): NormalizedUrl {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw urlInvalid("the URL cannot be parsed");
  }
  const scheme = url.protocol.slice(0, -1);
  if (!SCHEMES.has(scheme)) throw urlInvalid(`the URL's scheme must be one of ${URL_SCHEMES.join(", ")}`);
  const host = canonicalHost(url.hostname);
  if (!host) throw urlInvalid("the URL's host is empty or has an empty label");
  const s = scheme as UrlScheme;
  return {
    scheme: s,
    host,
    port: url.port ? Number(url.port) : DEFAULT_PORTS[s],
    path: normalizePercentEncoding(url.pathname || "/"),
    isIp: isIpHost(host),
  };
}

/** The text of a normalized URL without query or fragment (for messages and tests). */
export function urlText(u: NormalizedUrl): string {
  const port = u.port === DEFAULT_PORTS[u.scheme] ? "" : `:${u.port}`;
  return `${u.scheme}://${u.host}${port}${u.path}`;
}

/** Rule text may not carry these: a rule is never a whole URL with credentials, query or fragment. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const FORBIDDEN_IN_RULE = /[\s\u0000-\u001f\u007f@?#]/;

/**
 * Parses and normalizes a rule; an invalid one throws URL_INVALID naming it (and `field`, e.g.
 * "access_control.block[3]").
 */
export function parseUrlRule(input: string, field = "rule"): UrlRule {
  const fail = (why: string) =>
    new DomainError("invalid_argument", "URL_INVALID", `${field}: ${JSON.stringify(input)} is not a valid URL rule: ${why}`, {
      violations: [{ field, description: `${JSON.stringify(input)} is not a valid URL rule: ${why}` }],
    });
  const raw = input.trim();
  if (!raw) throw fail("it is empty");
  if (FORBIDDEN_IN_RULE.test(raw)) throw fail("it may not contain spaces, control characters, userinfo (@), a query (?) or a fragment (#)");

  let rest = raw;
  let scheme: UrlScheme | undefined;
  const sm = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest);
  if (sm) {
    const name = sm[1]!.toLowerCase();
    if (!SCHEMES.has(name)) throw fail(`the scheme must be one of ${URL_SCHEMES.join(", ")}`);
    scheme = name as UrlScheme;
    rest = rest.slice(sm[0].length);
  }
  // WHATWG treats "\" as "/" in special URLs; rules do the same.
  rest = rest.replace(/\\/g, "/");
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const rawPath = slash < 0 ? "" : rest.slice(slash);

  let hostPart = authority;
  let portText: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) throw fail("the IPv6 literal has no closing bracket");
    hostPart = authority.slice(0, close + 1);
    const after = authority.slice(close + 1);
    if (after) {
      if (!after.startsWith(":")) throw fail("unexpected text after the IPv6 literal");
      portText = after.slice(1);
    }
  } else {
    if (/[[\]]/.test(authority)) throw fail("an IPv6 literal is the whole host, in brackets (no wildcard)");
    const colon = authority.lastIndexOf(":");
    if (colon >= 0) {
      hostPart = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    }
  }

  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw fail("the port must be a number from 0 to 65535");
    port = Number(portText);
  }

  const host = parseHostPattern(hostPart, fail);
  const path = rawPath ? normalizeRulePath(rawPath, fail) : undefined;

  const hostText = host.kind === "any" ? "*" : host.kind === "suffix" ? `*.${host.domain}` : host.host;
  const text = `${scheme ? `${scheme}://` : ""}${hostText}${port !== undefined ? `:${port}` : ""}${path ?? ""}`;
  return { scheme, host, port, path, text };
}

function parseHostPattern(hostPart: string, fail: (why: string) => Error): HostPattern {
  if (hostPart === "*") return { kind: "any" };
  const wildcard = hostPart.startsWith("*.");
  const name = wildcard ? hostPart.slice(2) : hostPart;
  if (!name) throw fail("the host is empty");
  // URL accepts "*" inside a host; in a rule it is only the leading "*." label.
  if (name.includes("*")) throw fail('"*" may only stand alone or as the first label ("*.example.com")');
  let url: URL;
  try {
    url = new URL(`http://${name}/`);
  } catch {
    throw fail("the host cannot be parsed");
  }
  if (url.port || url.username || url.password || url.pathname !== "/") throw fail("the host cannot be parsed");
  const host = canonicalHost(url.hostname);
  if (!host) throw fail("the host is empty or has an empty label");
  if (!wildcard) return { kind: "exact", host };
  if (isIpHost(host)) throw fail("a wildcard applies to domain names, not IP addresses");
  return { kind: "suffix", domain: host };
}

function normalizeRulePath(rawPath: string, fail: (why: string) => Error): string | undefined {
  let pathname: string;
  try {
    pathname = new URL(`http://rule.invalid${rawPath}`).pathname;
  } catch {
    throw fail("the path cannot be parsed");
  }
  const path = normalizePercentEncoding(pathname);
  // "/" restricts nothing: the rule covers the whole host.
  return path === "/" ? undefined : path;
}

/** Whether a URL path lies under a rule's prefix, on a segment boundary (`/docs` covers /docs and /docs/x, not /docsx). */
export function pathUnder(prefix: string, path: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || prefix.endsWith("/") || path.charCodeAt(prefix.length) === 47; /* "/" */
}
