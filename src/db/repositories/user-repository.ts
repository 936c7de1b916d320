import { and, asc, eq, gt, isNull, like, or, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { users, type UserRow } from "../schema/index.js";

export interface NewUser {
  email: string;
  displayName: string;
  passwordHash: string | null;
  admin?: boolean;
  roles?: string[];
}

export class UserRepository {
  async create(db: DbOrTx, user: NewUser, now: Date): Promise<UserRow | undefined> {
    const [row] = await db
      .insert(users)
      .values({ ...user, createdAt: now, updatedAt: now, passwordChangedAt: user.passwordHash ? now : null })
      .onConflictDoNothing({ target: users.email })
      .returning();
    return row;
  }

  async findById(db: DbOrTx, id: string): Promise<UserRow | undefined> {
    if (!isUuid(id)) return undefined;
    const [row] = await db
      .select()
      .from(users)
      .where(and(eq(users.id, id), isNull(users.deletedAt)));
    return row;
  }

  /** Row lock on the user for the rest of the transaction (per-user limits). */
  async lockForUpdate(db: DbOrTx, id: string): Promise<void> {
    await db.select({ id: users.id }).from(users).where(eq(users.id, id)).for("update");
  }

  /** The user and whether any second factor is confirmed, in one read (sign-in is a hot path). */
  async findByEmailForSignIn(db: DbOrTx, email: string): Promise<(UserRow & { hasMfa: boolean }) | undefined> {
    const [row] = await db
      .select({ user: users, hasMfa: sql<boolean>`exists (select 1 from mfa_factors f where f.user_id = "users"."id" and f.confirmed_at is not null)` })
      .from(users)
      .where(and(eq(users.email, email), isNull(users.deletedAt)));
    return row && { ...row.user, hasMfa: !!row.hasMfa };
  }

  async findByEmail(db: DbOrTx, email: string): Promise<UserRow | undefined> {
    const [row] = await db
      .select()
      .from(users)
      .where(and(eq(users.email, email), isNull(users.deletedAt)));
    return row;
  }

  async list(db: DbOrTx, limit: number, after?: { createdAt: Date; id: string }, emailPrefix?: string): Promise<UserRow[]> {
    const conditions = [isNull(users.deletedAt)];
    if (emailPrefix) conditions.push(like(users.email, `${escapeLike(emailPrefix)}%`));
    if (after) conditions.push(or(gt(users.createdAt, after.createdAt), and(eq(users.createdAt, after.createdAt), gt(users.id, after.id)))!);
    return db
      .select()
      .from(users)
      .where(and(...conditions))
      .orderBy(asc(users.createdAt), asc(users.id))
      .limit(limit);
  }

  async update(
    db: DbOrTx,
    id: string,
    changes: Partial<Pick<UserRow, "displayName" | "admin" | "roles" | "disabled" | "passwordHash" | "passwordChangedAt">>,
    now: Date,
  ): Promise<UserRow | undefined> {
    const [row] = await db
      .update(users)
      .set({ ...changes, updatedAt: now })
      .where(and(eq(users.id, id), isNull(users.deletedAt)))
      .returning();
    return row;
  }

  /** Soft delete; the email is released by suffixing it, so the address can sign up again. */
  async softDelete(db: DbOrTx, id: string, now: Date): Promise<UserRow | undefined> {
    const [row] = await db
      .update(users)
      .set({ deletedAt: now, disabled: true, updatedAt: now, email: sql`${users.email} || '#deleted:' || ${users.id}`, passwordHash: null })
      .where(and(eq(users.id, id), isNull(users.deletedAt)))
      .returning();
    return row;
  }

  async counts(db: DbOrTx): Promise<{ total: number; disabled: number }> {
    const [row] = await db
      .select({ total: sql<number>`count(*)::int`, disabled: sql<number>`count(*) filter (where ${users.disabled})::int` })
      .from(users)
      .where(isNull(users.deletedAt));
    return { total: Number(row?.total ?? 0), disabled: Number(row?.disabled ?? 0) };
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}
