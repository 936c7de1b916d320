import type { BoundedCache } from "../cache/bounded-cache.js";
import type { Caches } from "../cache/caches.js";
import type { InvalidationBus } from "../invalidation.js";
import type { MembershipRow, OrganizationRow } from "../records.js";
import type { OrganizationStore } from "../store/organization-store.js";

/** Cached "not a member", told apart from "not cached". */
const NOT_A_MEMBER = null;

/**
 * Organizations and memberships as the per-call access checks read them: cached per instance
 * for a few seconds (bounded), and dropped on every instance when an organization changes
 * (topic `org`) or a user's memberships do (topic `user`), so an organization-scoped call costs
 * no database read when nothing changed.
 */
export class OrgDirectory implements Pick<OrganizationStore, "membership" | "findById"> {
  private readonly orgs: BoundedCache<string, OrganizationRow>;
  private readonly members: BoundedCache<string, MembershipRow | typeof NOT_A_MEMBER>;

  constructor(
    private readonly d: { store: { orgs: Pick<OrganizationStore, "membership" | "findById"> }; caches: Caches; bus: InvalidationBus; ttlSeconds: number },
  ) {
    this.orgs = d.caches.create("organizations", { ttlSeconds: d.ttlSeconds });
    this.members = d.caches.create("memberships", { ttlSeconds: d.ttlSeconds });
    d.bus.on("org", (id) => {
      this.orgs.delete(id);
      this.members.deleteWhere((_m, key) => key.startsWith(`${id}|`));
    });
    d.bus.on("user", (userId) => this.members.deleteWhere((_m, key) => key.endsWith(`|${userId}`)));
  }

  /** A live organization (deleted ones are not returned, nor cached). */
  findById(id: string): Promise<OrganizationRow | undefined> {
    return this.orgs.getOrLoad(id, () => this.d.store.orgs.findById(id));
  }

  async membership(organizationId: string, userId: string): Promise<MembershipRow | undefined> {
    const row = await this.members.getOrLoad(
      `${organizationId}|${userId}`,
      async () => (await this.d.store.orgs.membership(organizationId, userId)) ?? NOT_A_MEMBER,
    );
    return row ?? undefined;
  }
}
