import { randomUUID } from "node:crypto";
import { isUuid } from "../../../../src/domain/ids.js";
import type { MembershipRow, OrganizationRow } from "../../../../src/domain/records.js";
import type { MemberWithUser, OrganizationChanges, OrganizationStore } from "../../../../src/domain/store/organization-store.js";
import type { PageAfter } from "../../../../src/domain/store/user-store.js";
import { afterCursor, byCreated, copy, foreignKey, uuidParam, type Rows } from "./tables.js";

const memberKey = (organizationId: string, userId: string) => `${organizationId}|${userId}`;

/** OrganizationRepository in memory. Owners count only while their user is live. */
export class MemoryOrganizationStore implements OrganizationStore {
  constructor(private readonly rows: Rows) {}

  private get t() {
    return this.rows.tables;
  }

  private members(organizationId: string): MembershipRow[] {
    return [...this.t.memberships.values()].filter((m) => m.organizationId === organizationId);
  }

  private liveUser(userId: string): boolean {
    const u = this.t.users.get(userId);
    return !!u && !u.deletedAt;
  }

  async create(org: { name: string; tier: string; createdBy: string }, now: Date): Promise<OrganizationRow> {
    foreignKey(this.t.users.has(org.createdBy), "organizations_created_by_users_id_fk");
    const row: OrganizationRow = { id: randomUUID(), ...org, suspended: false, requireMfa: false, createdAt: now, updatedAt: now, deletedAt: null };
    return this.rows.insert(this.t.organizations, row.id, row);
  }

  async findById(id: string): Promise<OrganizationRow | undefined> {
    const o = this.t.organizations.get(uuidParam(id));
    return o && !o.deletedAt ? copy(o) : undefined;
  }

  async update(id: string, set: OrganizationChanges, now: Date): Promise<OrganizationRow | undefined> {
    const o = this.t.organizations.get(uuidParam(id));
    if (!o || o.deletedAt) return undefined;
    return this.rows.update(this.t.organizations, id, { ...set, updatedAt: now });
  }

  async countCreatedBy(userId: string): Promise<number> {
    return [...this.t.organizations.values()].filter((o) => o.createdBy === userId && !o.deletedAt).length;
  }

  async list(limit: number, userId: string | undefined, after?: PageAfter): Promise<(OrganizationRow & { callerRole: string | null })[]> {
    return [...this.t.organizations.values()]
      .filter((o) => !o.deletedAt && afterCursor(o, o.id, after) && (!userId || this.t.memberships.has(memberKey(o.id, userId))))
      .sort(byCreated((o) => o.id))
      .slice(0, limit)
      .map((o) => ({ ...copy(o), callerRole: userId ? (this.t.memberships.get(memberKey(o.id, userId))?.role ?? null) : null }));
  }

  async membership(organizationId: string, userId: string): Promise<MembershipRow | undefined> {
    if (!isUuid(organizationId) || !isUuid(userId)) return undefined;
    const m = this.t.memberships.get(memberKey(organizationId, userId));
    return m && copy(m);
  }

  async sharesOrganization(userA: string, userB: string): Promise<boolean> {
    if (!isUuid(userA) || !isUuid(userB)) return false;
    return [...this.t.organizations.values()].some(
      (o) => !o.deletedAt && this.t.memberships.has(memberKey(o.id, userA)) && this.t.memberships.has(memberKey(o.id, userB)),
    );
  }

  async addMember(m: { organizationId: string; userId: string; role: string; accepted?: boolean }, now: Date): Promise<MembershipRow | undefined> {
    foreignKey(this.t.organizations.has(m.organizationId), "memberships_organization_id_organizations_id_fk");
    foreignKey(this.t.users.has(m.userId), "memberships_user_id_users_id_fk");
    const key = memberKey(m.organizationId, m.userId);
    if (this.t.memberships.has(key)) return undefined; // ON CONFLICT DO NOTHING
    const { accepted, ...member } = m;
    return this.rows.insert(this.t.memberships, key, { ...member, createdAt: now, acceptedAt: accepted ? now : null });
  }

  async acceptMembership(organizationId: string, userId: string, now: Date): Promise<MembershipRow | undefined> {
    const key = memberKey(organizationId, userId);
    const m = this.t.memberships.get(key);
    if (!m) return undefined;
    return this.rows.update(this.t.memberships, key, { acceptedAt: m.acceptedAt ?? now });
  }

  async setRole(organizationId: string, userId: string, role: string): Promise<MembershipRow | undefined> {
    return this.rows.update(this.t.memberships, memberKey(organizationId, userId), { role });
  }

  async removeMember(organizationId: string, userId: string): Promise<MembershipRow | undefined> {
    return this.rows.delete(this.t.memberships, memberKey(organizationId, userId));
  }

  async lockOwners(organizationId: string): Promise<string[]> {
    // Inner join on users where deleted_at is null: a deleted account owns nothing.
    const owners = () => this.members(uuidParam(organizationId)).filter((m) => m.role === "owner" && this.liveUser(m.userId));
    for (const m of owners()) await this.rows.lock(`memberships:${memberKey(m.organizationId, m.userId)}`);
    // FOR UPDATE reads the rows again once it holds them.
    return owners().map((m) => m.userId);
  }

  async soleOwnerOf(userId: string): Promise<string[]> {
    return [...this.t.organizations.values()]
      .filter((o) => !o.deletedAt && this.t.memberships.get(memberKey(o.id, userId))?.role === "owner")
      .filter((o) => !this.members(o.id).some((m) => m.role === "owner" && m.userId !== userId && this.liveUser(m.userId)))
      .map((o) => o.id);
  }

  async lockOwnedOrganizations(userId: string): Promise<void> {
    const owned = [...this.t.organizations.values()].filter((o) => !o.deletedAt && this.t.memberships.get(memberKey(o.id, userId))?.role === "owner");
    for (const o of owned.sort((a, b) => a.id.localeCompare(b.id))) await this.rows.lock(`organizations:${o.id}`);
  }

  async lockOrganization(organizationId: string): Promise<void> {
    await this.rows.lock(`organizations:${uuidParam(organizationId)}`);
  }

  async listMembers(organizationId: string, limit: number, after?: { createdAt: Date; userId: string }): Promise<MemberWithUser[]> {
    return this.members(uuidParam(organizationId))
      .filter((m) => this.liveUser(m.userId) && afterCursor(m, m.userId, after && { createdAt: after.createdAt, id: after.userId }))
      .sort(byCreated((m) => m.userId))
      .slice(0, limit)
      .map((m) => {
        const u = this.t.users.get(m.userId)!;
        return { ...copy(m), email: u.email, displayName: u.displayName };
      });
  }
}
