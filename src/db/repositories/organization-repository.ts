import { and, asc, count, eq, gt, inArray, isNull, or, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { isUuid } from "./user-repository.js";
import { memberships, organizations, users, type MembershipRow, type OrganizationRow } from "../schema/index.js";

export interface MemberWithUser extends MembershipRow {
  email: string;
  displayName: string;
}

export interface Cursor {
  createdAt: Date;
  id: string;
}

function afterOrg(c: Cursor) {
  return or(gt(organizations.createdAt, c.createdAt), and(eq(organizations.createdAt, c.createdAt), gt(organizations.id, c.id)))!;
}

export class OrganizationRepository {
  async create(db: DbOrTx, org: { name: string; tier: string; createdBy: string }, now: Date): Promise<OrganizationRow> {
    const [row] = await db
      .insert(organizations)
      .values({ ...org, createdAt: now, updatedAt: now })
      .returning();
    return row!;
  }

  /** Live (not deleted) organization. */
  async findById(db: DbOrTx, id: string): Promise<OrganizationRow | undefined> {
    const [row] = await db
      .select()
      .from(organizations)
      .where(and(eq(organizations.id, id), isNull(organizations.deletedAt)));
    return row;
  }

  async update(
    db: DbOrTx,
    id: string,
    set: Partial<Pick<OrganizationRow, "name" | "suspended" | "requireMfa" | "deletedAt">>,
    now: Date,
  ): Promise<OrganizationRow | undefined> {
    const [row] = await db
      .update(organizations)
      .set({ ...set, updatedAt: now })
      .where(and(eq(organizations.id, id), isNull(organizations.deletedAt)))
      .returning();
    return row;
  }

  async countCreatedBy(db: DbOrTx, userId: string): Promise<number> {
    const [row] = await db
      .select({ n: count() })
      .from(organizations)
      .where(and(eq(organizations.createdBy, userId), isNull(organizations.deletedAt)));
    return Number(row?.n ?? 0);
  }

  /** Organizations the user belongs to (or every one, for userId undefined), oldest first. */
  async list(db: DbOrTx, limit: number, userId: string | undefined, cursor?: Cursor): Promise<(OrganizationRow & { callerRole: string | null })[]> {
    const conditions = [isNull(organizations.deletedAt)];
    if (userId)
      conditions.push(inArray(organizations.id, db.select({ id: memberships.organizationId }).from(memberships).where(eq(memberships.userId, userId))));
    if (cursor) conditions.push(afterOrg(cursor));
    const rows = await db
      .select({
        org: organizations,
        callerRole: userId ? memberships.role : sql<string | null>`null`,
      })
      .from(organizations)
      .leftJoin(memberships, and(eq(memberships.organizationId, organizations.id), eq(memberships.userId, userId ?? sql`null`)))
      .where(and(...conditions))
      .orderBy(asc(organizations.createdAt), asc(organizations.id))
      .limit(limit);
    return rows.map((r) => ({ ...r.org, callerRole: r.callerRole }));
  }

  async membership(db: DbOrTx, organizationId: string, userId: string): Promise<MembershipRow | undefined> {
    // Ids come from requests; a malformed one names no membership (and must not reach a uuid column).
    if (!isUuid(organizationId) || !isUuid(userId)) return undefined;
    const [row] = await db
      .select()
      .from(memberships)
      .where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId)));
    return row;
  }

  async addMember(db: DbOrTx, m: { organizationId: string; userId: string; role: string }, now: Date): Promise<MembershipRow | undefined> {
    const [row] = await db
      .insert(memberships)
      .values({ ...m, createdAt: now })
      .onConflictDoNothing()
      .returning();
    return row;
  }

  async setRole(db: DbOrTx, organizationId: string, userId: string, role: string): Promise<MembershipRow | undefined> {
    const [row] = await db
      .update(memberships)
      .set({ role })
      .where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId)))
      .returning();
    return row;
  }

  async removeMember(db: DbOrTx, organizationId: string, userId: string): Promise<MembershipRow | undefined> {
    const [row] = await db
      .delete(memberships)
      .where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId)))
      .returning();
    return row;
  }

  /** Locks the organization's owner rows, so two demotions cannot both see "another owner left". */
  async lockOwners(db: DbOrTx, organizationId: string): Promise<string[]> {
    const rows = await db
      .select({ userId: memberships.userId })
      .from(memberships)
      .where(and(eq(memberships.organizationId, organizationId), eq(memberships.role, "owner")))
      .for("update");
    return rows.map((r) => r.userId);
  }

  /** Serializes membership changes of one organization for the rest of the transaction. */
  async lockOrganization(db: DbOrTx, organizationId: string): Promise<void> {
    await db.select({ id: organizations.id }).from(organizations).where(eq(organizations.id, organizationId)).for("update");
  }

  async listMembers(db: DbOrTx, organizationId: string, limit: number, cursor?: { createdAt: Date; userId: string }): Promise<MemberWithUser[]> {
    const conditions = [eq(memberships.organizationId, organizationId)];
    if (cursor)
      conditions.push(
        or(gt(memberships.createdAt, cursor.createdAt), and(eq(memberships.createdAt, cursor.createdAt), gt(memberships.userId, cursor.userId)))!,
      );
    return db
      .select({
        organizationId: memberships.organizationId,
        userId: memberships.userId,
        role: memberships.role,
        createdAt: memberships.createdAt,
        email: users.email,
        displayName: users.displayName,
      })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(and(...conditions))
      .orderBy(asc(memberships.createdAt), asc(memberships.userId))
      .limit(limit);
  }
}
