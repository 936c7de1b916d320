import type { BoundedCache } from "../cache/bounded-cache.js";
import type { Caches } from "../cache/caches.js";
import type { InvalidationBus } from "../invalidation.js";
import type { OrgPolicyReader } from "../orgpolicy/org-policy-settings.js";
import type { OrganizationStore } from "../store/organization-store.js";

/** Limits on a user's sessions beyond the server's own; 0 means none. */
export interface SessionLimits {
  maxAgeSeconds: number;
  idleSeconds: number;
  maxConcurrent: number;
}

export const NO_SESSION_LIMITS: SessionLimits = { maxAgeSeconds: 0, idleSeconds: 0, maxConcurrent: 0 };

export interface SessionLimitSource {
  limitsFor(userId: string): Promise<SessionLimits>;
}

const ORGANIZATIONS_READ = 100;

/** The tighter of two limits where 0 means none. */
function tighter(a: number, b: number): number {
  return a === 0 ? b : b === 0 ? a : Math.min(a, b);
}

/**
 * A user's session limits: the tightest session section of every organization they belong to.
 * Cached per user for a few seconds; any organization's config change, and any change to the
 * user or an organization, drops it on every instance, so a tightened limit holds at the next call.
 */
export class OrgSessionLimits implements SessionLimitSource {
  private readonly cache: BoundedCache<string, SessionLimits>;

  constructor(
    private readonly d: {
      store: { orgs: Pick<OrganizationStore, "list"> };
      settings: OrgPolicyReader;
      bus: InvalidationBus;
      caches: Caches;
      cacheTtlSeconds: number;
    },
  ) {
    this.cache = d.caches.create("session_limits", { ttlSeconds: d.cacheTtlSeconds });
    d.bus.on("org_policy", () => this.cache.clear());
    d.bus.on("org", () => this.cache.clear());
    d.bus.on("user", (userId) => this.cache.delete(userId));
  }

  async limitsFor(userId: string): Promise<SessionLimits> {
    return this.cache.getOrLoad(userId, () => this.read(userId));
  }

  private async read(userId: string): Promise<SessionLimits> {
    const orgs = await this.d.store.orgs.list(ORGANIZATIONS_READ, userId);
    let limits = NO_SESSION_LIMITS;
    for (const org of orgs) {
      // A membership the user has not accepted sets no limits on their sessions.
      if (org.suspended || !org.callerAcceptedAt) continue;
      const s = (await this.d.settings.settings(org.id)).session;
      limits = {
        maxAgeSeconds: tighter(limits.maxAgeSeconds, s.maxAgeSeconds),
        idleSeconds: tighter(limits.idleSeconds, s.idleTimeoutSeconds),
        maxConcurrent: tighter(limits.maxConcurrent, s.maxConcurrentPerUser),
      };
    }
    return limits;
  }
}
