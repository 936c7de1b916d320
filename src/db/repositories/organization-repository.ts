import { and, asc, count, eq, gt, inArray, isNull, ne, notExists, or, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import type { DbOrTx } from "../client.js";
import { isUuid } from "../../domain/ids.js";
import { memberships, organizations, users, type MembershipRow, type OrganizationRow } from "../schema/index.js";
import type { MemberWithUser, OrganizationChanges, OrganizationStore } from "../../domain/store/organization-store.js";
import type { PageAfter } from "../../domain/store/user-store.js";

function afterOrg(c: PageAfter) {
  return or(gt(organizations.createdAt, c.createdAt), and(eq(organizations.createdAt, c.createdAt), gt(organizations.id, c.id)))!;
}

export class OrganizationRepository implements OrganizationStore {
  constructor(private readonly db: DbOrTx) {}

  async create(org: { name: string; tier: string; createdBy: string }, now: Date): Promise<OrganizationRow> {
    const [row] = await this.db
      .insert(organizations)
      .values({ ...org, createdAt: now, updatedAt: now })
      .returning();
    return row!;
  }

  /** Live (not deleted) organization. */
  async findById(id: string): Promise<OrganizationRow | undefined> {
    const [row] = await this.db
      .select()
      .from(organizations)
      .where(and(eq(organizations.id, id), isNull(organizations.deletedAt)));
    return row;
  }

  async update(id: string, set: OrganizationChanges, now: Date): Promise<OrganizationRow | undefined> {
    const [row] = await this.db
      .update(organizations)
      .set({ ...set, updatedAt: now })
      .where(and(eq(organizations.id, id), isNull(organizations.deletedAt)))
      .returning();
    return row;
  }

  async countCreatedBy(userId: string): Promise<number> {
    const [row] = await this.db
      .select({ n: count() })
      .from(organizations)
      .where(and(eq(organizations.createdBy, userId), isNull(organizations.deletedAt)));
    return Number(row?.n ?? 0);
  }

  /** Organizations the user belongs to (or every one, for userId undefined), oldest first. */
  async acceptMembership(organizationId: string, userId: string, now: Date): Promise<MembershipRow | undefined> {
    const [row] = await this.db
      .update(memberships)
      .set({ acceptedAt: sql`coalesce(${memberships.acceptedAt}, ${now.toISOString()}::timestamptz)` })
      .where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId)))
      .returning();
    return row;
  }

  async list(
    limit: number,
    userId: string | undefined,
    cursor?: PageAfter,
  ): Promise<(OrganizationRow & { callerRole: string | null; callerAcceptedAt?: Date | null })[]> {
    const conditions = [isNull(organizations.deletedAt)];
    if (userId)
      conditions.push(inArray(organizations.id, this.db.select({ id: memberships.organizationId }).from(memberships).where(eq(memberships.userId, userId))));
    if (cursor) conditions.push(afterOrg(cursor));
    const rows = await this.db
      .select({
        org: organizations,
        callerRole: userId ? memberships.role : sql<string | null>`null`,
        callerAcceptedAt: memberships.acceptedAt,
      })
      .from(organizations)
      .leftJoin(memberships, and(eq(memberships.organizationId, organizations.id), eq(memberships.userId, userId ?? sql`null`)))
      .where(and(...conditions))
      .orderBy(asc(organizations.createdAt), asc(organizations.id))
      .limit(limit);
    return rows.map((r) => ({ ...r.org, callerRole: r.callerRole, callerAcceptedAt: userId ? r.callerAcceptedAt : null }));
  }

  async membership(organizationId: string, userId: string): Promise<MembershipRow | undefined> {
    // Ids come from requests; a malformed one names no membership (and must not reach a uuid column).
    if (!isUuid(organizationId) || !isUuid(userId)) return undefined;
    const [row] = await this.db
      .select()
      .from(memberships)
      .where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId)));
    return row;
  }

  async sharesOrganization(userA: string, userB: string): Promise<boolean> {
    if (!isUuid(userA) || !isUuid(userB)) return false;
    const other = alias(memberships, "other_member");
    const [row] = await this.db
      .select({ one: sql`1` })
      .from(memberships)
      .innerJoin(other, and(eq(other.organizationId, memberships.organizationId), eq(other.userId, userB)))
      .innerJoin(organizations, and(eq(organizations.id, memberships.organizationId), isNull(organizations.deletedAt)))
      .where(eq(memberships.userId, userA))
      .limit(1);
    return !!row;
  }

  async addMember(m: { organizationId: string; userId: string; role: string; accepted?: boolean }, now: Date): Promise<MembershipRow | undefined> {
    const { accepted, ...member } = m;
    const [row] = await this.db
      .insert(memberships)
      .values({ ...member, createdAt: now, acceptedAt: accepted ? now : null })
      .onConflictDoNothing()
      .returning();
    return row;
  }

  async setRole(organizationId: string, userId: string, role: string): Promise<MembershipRow | undefined> {
    const [row] = await this.db
      .update(memberships)
      .set({ role })
      .where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId)))
      .returning();
    return row;
  }

  async removeMember(organizationId: string, userId: string): Promise<MembershipRow | undefined> {
    const [row] = await this.db
      .delete(memberships)
      .where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId)))
      .returning();
    return row;
  }

  async lockOwners(organizationId: string): Promise<string[]> {
    // A deleted account owns nothing: counting it would let the last live owner leave.
    const rows = await this.db
      .select({ userId: memberships.userId })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(and(eq(memberships.organizationId, organizationId), eq(memberships.role, "owner"), isNull(users.deletedAt)))
      .for("update", { of: memberships });
    return rows.map((r) => r.userId);
  }

  async soleOwnerOf(userId: string): Promise<string[]> {
    const other = alias(memberships, "other_owner");
    const otherUser = alias(users, "other_user");
    const anotherLiveOwner = this.db
      .select({ one: sql`1` })
      .from(other)
      .innerJoin(otherUser, eq(otherUser.id, other.userId))
      .where(and(eq(other.organizationId, organizations.id), eq(other.role, "owner"), ne(other.userId, userId), isNull(otherUser.deletedAt)));
    const rows = await this.db
      .select({ id: organizations.id })
      .from(organizations)
      .innerJoin(memberships, and(eq(memberships.organizationId, organizations.id), eq(memberships.userId, userId), eq(memberships.role, "owner")))
      .where(and(isNull(organizations.deletedAt), notExists(anotherLiveOwner)));
    return rows.map((r) => r.id);
  }

  async lockOwnedOrganizations(userId: string): Promise<void> {
    await this.db
      .select({ id: organizations.id })
      .from(organizations)
      .innerJoin(memberships, and(eq(memberships.organizationId, organizations.id), eq(memberships.userId, userId), eq(memberships.role, "owner")))
      .where(isNull(organizations.deletedAt))
      .orderBy(asc(organizations.id))
      .for("update", { of: organizations });
  }

  /** Serializes membership changes of one organization for the rest of the transaction. */
  async lockOrganization(organizationId: string): Promise<void> {
    await this.db.select({ id: organizations.id }).from(organizations).where(eq(organizations.id, organizationId)).for("update");
  }

  async listMembers(organizationId: string, limit: number, cursor?: { createdAt: Date; userId: string }): Promise<MemberWithUser[]> {
    const conditions = [eq(memberships.organizationId, organizationId)];
    if (cursor)
      conditions.push(
        or(gt(memberships.createdAt, cursor.createdAt), and(eq(memberships.createdAt, cursor.createdAt), gt(memberships.userId, cursor.userId)))!,
      );
    return this.db
      .select({
        organizationId: memberships.organizationId,
        userId: memberships.userId,
        acceptedAt: memberships.acceptedAt,
        role: memberships.role,
        createdAt: memberships.createdAt,
        email: users.email,
        displayName: users.displayName,
      })
      .from(memberships)
      .innerJoin(users, and(eq(users.id, memberships.userId), isNull(users.deletedAt)))
      .where(and(...conditions))
      .orderBy(asc(memberships.createdAt), asc(memberships.userId))
      .limit(limit);
  }
}
