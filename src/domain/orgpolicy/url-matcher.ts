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
}

/**
 * The rules of one host key, split by the first segment of their path prefix: a URL can only
 * be under a prefix whose first segment is its own, so a check compares only those (and the
 * rules with no path).
 */
class Bucket {
  private readonly anyPath: Entry[] = [];
  private readonly byFirstSegment = new Map<string, Entry[]>();

  add(e: Entry): void {
    if (e.rule.path === undefined) this.anyPath.push(e);
    else push(this.byFirstSegment, firstSegment(e.rule.path), e);
  }

  candidates(urlFirstSegment: string): [Entry[], Entry[] | undefined] {
    return [this.anyPath, this.byFirstSegment.get(urlFirstSegment)];
  }
}

/**
 * An organization's allow and block lists compiled into an index by host: exact hosts, and
 * wildcard domains by suffix, each split by first path segment. A check looks up the URL's
 * host and each parent domain (one map lookup per label), then compares only the rules found
 * there (and the `*` rules of its first segment), so its cost does not grow with the number of
 * rules for other hosts or paths. Block beats allow; with no match the default action decides.
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
    const entry: Entry = { rule, action, rank: rankOf(rule) };
    const h = rule.host;
    if (h.kind === "any") this.anyHost.add(entry);
    else bucketOf(h.kind === "exact" ? this.exact : this.suffix, h.kind === "exact" ? h.host : h.domain).add(entry);
  }

  /** Throws URL_INVALID for a malformed URL or one of another scheme. */
  check(input: string): UrlDecision {
    return this.decide(normalizeUrl(input));
  }

  decide(url: NormalizedUrl): UrlDecision {
    const segment = firstSegment(url.path);
    let examined = 0;
    let block: Entry | undefined;
    let allow: Entry | undefined;
    const compare = (entries: Entry[] | undefined) => {
      if (!entries) return;
      for (const e of entries) {
        examined++;
        if (!matches(e.rule, url)) continue;
        if (e.action === "block") {
          if (!block || e.rank > block.rank) block = e;
        } else if (!allow || e.rank > allow.rank) allow = e;
      }
    };
    const consider = (bucket: Bucket | undefined) => {
      if (!bucket) return;
      const [anyPath, bySegment] = bucket.candidates(segment);
      compare(anyPath);
      compare(bySegment);
    };
    consider(this.exact.get(url.host));
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

function matches(rule: UrlRule, url: NormalizedUrl): boolean {
  if (rule.scheme !== undefined && rule.scheme !== url.scheme) return false;
  if (rule.port !== undefined && rule.port !== url.port) return false;
  return rule.path === undefined || pathUnder(rule.path, url.path);
}

/** Exact host over wildcard (longer domain first) over any host; then longer path, then port and scheme. */
function rankOf(rule: UrlRule): number {
  const h = rule.host;
  const hostRank = h.kind === "exact" ? 2 * 1024 : h.kind === "suffix" ? 1024 + Math.min(h.domain.length, 1023) : 0;
  return hostRank * 16384 + Math.min(rule.path?.length ?? 0, 4095) * 4 + (rule.port !== undefined ? 2 : 0) + (rule.scheme !== undefined ? 1 : 0);
}
