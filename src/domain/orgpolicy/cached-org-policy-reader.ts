import type { BoundedCache } from "../cache/bounded-cache.js";
import type { Caches } from "../cache/caches.js";
import type { InvalidationBus } from "../invalidation.js";
import type { OrgPolicyReader, OrgPolicySettings } from "./org-policy-settings.js";

/**
 * Organizations' settings as sign-ins, refreshes and URL checks read them: from a bounded
 * per-instance cache that every config change (topic "org_policy") and organization change
 * (topic "org": require_mfa, deletion) clears on every instance, so the next call sees it.
 */
export class CachedOrgPolicyReader implements OrgPolicyReader {
  private readonly cache: BoundedCache<string, OrgPolicySettings>;

  constructor(
    private readonly source: { get(organizationId: string): Promise<OrgPolicySettings> },
    caches: Caches,
    bus: InvalidationBus,
  ) {
    this.cache = caches.create("org_policy_settings");
    const drop = (id: string) => this.cache.delete(id);
    bus.on("org_policy", drop);
    bus.on("org", drop);
  }

  async settings(organizationId: string): Promise<OrgPolicySettings> {
    // Frozen: every caller shares the cached object.
    return this.cache.getOrLoad(organizationId, async () => deepFreeze(await this.source.get(organizationId)));
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !(value instanceof Date) && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
