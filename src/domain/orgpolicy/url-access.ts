import type { BoundedCache } from "../cache/bounded-cache.js";
import type { Caches } from "../cache/caches.js";
import type { OrgPolicyReader } from "./org-policy-settings.js";
import { UrlMatcher, type UrlAction, type UrlDecision } from "./url-matcher.js";
import { normalizeUrl } from "./url-normalize.js";

/** What a browser agent enforces: the normalized lists, cached by the agent per version. */
export interface BrowserPolicy {
  organizationId: string;
  version: number;
  allow: string[];
  block: string[];
  defaultAction: UrlAction;
}

/** Compiled matchers are few and large (up to 10,000 rules each): their own, smaller bound. */
const MATCHERS_HELD = 256;
/** A version's lists never change, so a compiled matcher stays good until evicted. */
const MATCHER_TTL_SECONDS = 3600;

/** CheckUrlAccess and GetBrowserPolicy over an organization's current (cached) settings. */
export class UrlAccess {
  private readonly matchers: BoundedCache<string, UrlMatcher>;

  constructor(
    private readonly reader: OrgPolicyReader,
    caches: Caches,
  ) {
    this.matchers = caches.create("url_matchers", { maxEntries: MATCHERS_HELD, ttlSeconds: MATCHER_TTL_SECONDS });
  }

  /** Malformed URLs (or other schemes) fail URL_INVALID before anything is read. */
  async check(organizationId: string, url: string): Promise<UrlDecision> {
    const normalized = normalizeUrl(url);
    return (await this.matcher(organizationId)).decide(normalized);
  }

  async browserPolicy(organizationId: string): Promise<BrowserPolicy> {
    const s = await this.reader.settings(organizationId);
    const { allow, block, defaultAction } = s.accessControl;
    return { organizationId, version: s.version, allow: [...allow], block: [...block], defaultAction };
  }

  /** The organization's matcher, compiled once per config version. */
  async matcher(organizationId: string): Promise<UrlMatcher> {
    const s = await this.reader.settings(organizationId);
    const key = `${organizationId}@${s.version}`;
    let m = this.matchers.get(key);
    if (!m) {
      const { allow, block, defaultAction } = s.accessControl;
      m = new UrlMatcher(allow, block, defaultAction);
      this.matchers.set(key, m);
    }
    return m;
  }
}
