import { embeddedIpv4, loosePath } from "./url-loose.js";
import { normalizeUrl, parseUrlRule, pathUnder, type NormalizedUrl, type UrlRule } from "./url-normalize.js";

export type UrlAction = "allow" | "block";

export interface UrlDecision {
  allowed: boolean;
  /** "block:<rule>", "allow:<rule>" or "default". */
  matchedRule: string;
  message: string;
  /** Rules whose scheme, port and path were compared: the work the index left (tests read it). */
  examined: number;
}

interface Entry {
  rule: UrlRule;
  action: UrlAction;
  /** Higher is more specific; only used to choose which matching rule to report. */
  rank: number;
  /** Block rules with a path: the path's loose form (url-loose.ts), compared with the URL's loose path. */
  loosePath?: string;
  /** The first segments the entry is indexed under: the strict one, and for a block rule the loose one. */
  segments: readonly string[];
}

/** The two views of a URL a check compares: strict for every rule, loose only for block rules. */
interface UrlViews {
  strict: NormalizedUrl;
  strictSegment: string;
  loosePath: string;
  looseSegment: string;
}

/**
 * The rules of one action, split by the first segment of their path prefix: a URL can only be
 * under a prefix whose first segment is its own, so a check compares only those (and the rules
 * with no path). A block rule is indexed under its strict and its loose first segment, since it
 * matches either view of the URL.
 */
class SegmentIndex {
  private readonly anyPath: Entry[] = [];
  private readonly bySegment = new Map<string, Entry[]>();

  add(e: Entry): void {
    if (e.segments.length === 0) this.anyPath.push(e);
    for (const segment of e.segments) push(this.bySegment, segment, e);
  }

  /** Calls `visit` once for each entry the URL may match. */
  forCandidates(url: UrlViews, looseToo: boolean, visit: (e: Entry) => void): void {
    for (const e of this.anyPath) visit(e);
    const strict = this.bySegment.get(url.strictSegment);
    if (strict) for (const e of strict) visit(e);
    if (!looseToo || url.looseSegment === url.strictSegment) return;
    const loose = this.bySegment.get(url.looseSegment);
    // An entry indexed under both of the URL's segments was visited above.
    if (loose) for (const e of loose) if (!e.segments.includes(url.strictSegment)) visit(e);
  }
}

/** One host key's rules: allow rules compared with the strict URL, block rules with both views. */
class Bucket {
  private readonly allow = new SegmentIndex();
  private readonly block = new SegmentIndex();

  add(e: Entry): void {
    (e.action === "block" ? this.block : this.allow).add(e);
  }

  forCandidates(url: UrlViews, blockOnly: boolean, visit: (e: Entry) => void): void {
    if (!blockOnly) this.allow.forCandidates(url, false, visit);
    this.block.forCandidates(url, true, visit);
  }
}

/**
 * An organization's allow and block lists compiled into an index by host: exact hosts, and
 * wildcard domains by suffix, each split by first path segment. A check looks up the URL's
 * host and each parent domain (one map lookup per label), then compares only the rules found
 * there (and the `*` rules of its first segment), so its cost does not grow with the number of
 * rules for other hosts or paths. Block beats allow; with no match the default action decides.
 *
 * Block rules fail closed: one matches the strict URL or its loose form (url-loose.ts: path
 * escapes, `;params`, slashes, case; an IPv6 literal embedding an IPv4 address is also that
 * address). Allow rules match the strict URL only.
 */
export class UrlMatcher {
  private readonly exact = new Map<string, Bucket>();
  private readonly suffix = new Map<string, Bucket>();
  private readonly anyHost = new Bucket();

  /** Rules are normalized again here (idempotent), so stored or raw lists compile alike. */
  constructor(
    allow: readonly string[],
    block: readonly string[],
    readonly defaultAction: UrlAction,
  ) {
    for (const text of allow) this.add(parseUrlRule(text), "allow");
    for (const text of block) this.add(parseUrlRule(text), "block");
  }

  private add(rule: UrlRule, action: UrlAction): void {
    const entry = action === "block" ? blockEntry(rule) : allowEntry(rule);
    const h = rule.host;
    if (h.kind === "any") this.anyHost.add(entry);
    else if (h.kind === "suffix") bucketOf(this.suffix, h.domain).add(entry);
    // A block rule on "[::ffff:10.0.0.1]" is one on 10.0.0.1, which a mapped URL also looks up.
    else bucketOf(this.exact, action === "block" ? (embeddedIpv4(h.host) ?? h.host) : h.host).add(entry);
  }

  /** Throws URL_INVALID for a malformed URL or one of another scheme. */
  check(input: string): UrlDecision {
    return this.decide(normalizeUrl(input));
  }

  decide(url: NormalizedUrl): UrlDecision {
    const views = viewsOf(url);
    let examined = 0;
    let block: Entry | undefined;
    let allow: Entry | undefined;
    const compare = (e: Entry) => {
      examined++;
      if (e.action === "block") {
        if (matchesBlock(e, views) && (!block || e.rank > block.rank)) block = e;
      } else if (matchesStrict(e.rule, url) && (!allow || e.rank > allow.rank)) allow = e;
    };
    const consider = (bucket: Bucket | undefined, blockOnly = false) => bucket?.forCandidates(views, blockOnly, compare);
    consider(this.exact.get(url.host));
    const ipv4 = url.isIp ? embeddedIpv4(url.host) : undefined;
    if (ipv4) consider(this.exact.get(ipv4), true);
    if (!url.isIp) {
      // "*.example.com" covers example.com itself and every name below it.
      for (let name = url.host; ;) {
        consider(this.suffix.get(name));
        const dot = name.indexOf(".");
        if (dot < 0) break;
        name = name.slice(dot + 1);
      }
    }
    consider(this.anyHost);
    if (block) return { allowed: false, matchedRule: `block:${block.rule.text}`, message: `blocked by the rule ${block.rule.text}`, examined };
    if (allow) return { allowed: true, matchedRule: `allow:${allow.rule.text}`, message: `allowed by the rule ${allow.rule.text}`, examined };
    const allowed = this.defaultAction === "allow";
    return { allowed, matchedRule: "default", message: `no rule matches: the organization's default action ${allowed ? "allows" : "blocks"} it`, examined };
  }
}

function allowEntry(rule: UrlRule): Entry {
  return { rule, action: "allow", rank: rankOf(rule), segments: rule.path === undefined ? [] : [firstSegment(rule.path)] };
}

function blockEntry(rule: UrlRule): Entry {
  const entry: Entry = { rule, action: "block", rank: rankOf(rule), segments: [] };
  if (rule.path === undefined) return entry;
  entry.loosePath = loosePath(rule.path);
  // A path that is "/" once loose (e.g. "/;x") blocks the whole host: compared for every path.
  if (entry.loosePath !== "/") entry.segments = [...new Set([firstSegment(rule.path), firstSegment(entry.loosePath)])];
  return entry;
}

function viewsOf(url: NormalizedUrl): UrlViews {
  const loose = loosePath(url.path);
  return { strict: url, strictSegment: firstSegment(url.path), loosePath: loose, looseSegment: firstSegment(loose) };
}

/** "/docs/x" -> "docs"; "/" -> "". Paths here always start with "/". */
function firstSegment(path: string): string {
  const end = path.indexOf("/", 1);
  return end < 0 ? path.slice(1) : path.slice(1, end);
}

function bucketOf(map: Map<string, Bucket>, key: string): Bucket {
  let b = map.get(key);
  if (!b) map.set(key, (b = new Bucket()));
  return b;
}

function push<K>(map: Map<K, Entry[]>, key: K, entry: Entry): void {
  const list = map.get(key);
  if (list) list.push(entry);
  else map.set(key, [entry]);
}

function schemeAndPortMatch(rule: UrlRule, url: NormalizedUrl): boolean {
  return (rule.scheme === undefined || rule.scheme === url.scheme) && (rule.port === undefined || rule.port === url.port);
}

function matchesStrict(rule: UrlRule, url: NormalizedUrl): boolean {
  return schemeAndPortMatch(rule, url) && (rule.path === undefined || pathUnder(rule.path, url.path));
}

/** A block rule's path holds if the URL's path is under it strictly or loosely (each view compared with its own kind). */
function matchesBlock(e: Entry, url: UrlViews): boolean {
  if (!schemeAndPortMatch(e.rule, url.strict)) return false;
  return e.loosePath === undefined || pathUnder(e.rule.path!, url.strict.path) || pathUnder(e.loosePath, url.loosePath);
}

/** Exact host over wildcard (longer domain first) over any host; then longer path, then port and scheme. */
function rankOf(rule: UrlRule): number {
  const h = rule.host;
  const hostRank = h.kind === "exact" ? 2 * 1024 : h.kind === "suffix" ? 1024 + Math.min(h.domain.length, 1023) : 0;
  return hostRank * 16384 + Math.min(rule.path?.length ?? 0, 4095) * 4 + (rule.port !== undefined ? 2 : 0) + (rule.scheme !== undefined ? 1 : 0);
}
