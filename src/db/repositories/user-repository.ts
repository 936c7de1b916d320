import { and, asc, eq, gt, isNull, like, or, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { isUuid } from "../../domain/ids.js";
import { users, type UserRow } from "../schema/index.js";
import type { NewUser, PageAfter, UserChanges, UserStore } from "../../domain/store/user-store.js";

export class UserRepository implements UserStore {
  constructor(private readonly db: DbOrTx) {}

  async create(user: NewUser, now: Date): Promise<UserRow | undefined> {
    const [row] = await this.db
      .insert(users)
      .values({ ...user, createdAt: now, updatedAt: now, passwordChangedAt: user.passwordHash ? now : null })
      .onConflictDoNothing({ target: users.email })
      .returning();
    return row;
  }

  async findById(id: string): Promise<UserRow | undefined> {
    if (!isUuid(id)) return undefined;
    const [row] = await this.db
      .select()
      .from(users)
      .where(and(eq(users.id, id), isNull(users.deletedAt)));
    return row;
  }

  /** Row lock on the user for the rest of the transaction (per-user limits). */
  async lockForUpdate(id: string): Promise<void> {
    await this.db.select({ id: users.id }).from(users).where(eq(users.id, id)).for("update");
  }

  async findByEmailForSignIn(email: string, network: string, knownSince: Date): Promise<(UserRow & { hasMfa: boolean; knownNetwork: boolean }) | undefined> {
    const [row] = await this.db
      .select({
        user: users,
        hasMfa: sql<boolean>`exists (select 1 from mfa_factors f where f.user_id = "users"."id" and f.confirmed_at is not null)`,
        knownNetwork: sql<boolean>`exists (select 1 from known_networks k where k.user_id = "users"."id" and k.network = ${network} and k.last_sign_in_at > ${knownSince.toISOString()}::timestamptz)`,
      })
      .from(users)
      .where(and(eq(users.email, email), isNull(users.deletedAt)));
    return row && { ...row.user, hasMfa: !!row.hasMfa, knownNetwork: !!row.knownNetwork };
  }

  async findByEmail(email: string): Promise<UserRow | undefined> {
    const [row] = await this.db
      .select()
      .from(users)
      .where(and(eq(users.email, email), isNull(users.deletedAt)));
    return row;
  }

  async findByLoginAlias(alias: string): Promise<UserRow | undefined> {
    const [row] = await this.db
      .select()
      .from(users)
      .where(and(eq(users.loginAlias, alias), isNull(users.deletedAt)));
    return row;
  }

  async list(limit: number, after?: PageAfter, emailPrefix?: string): Promise<UserRow[]> {
    const conditions = [isNull(users.deletedAt)];
    if (emailPrefix) conditions.push(like(users.email, `${escapeLike(emailPrefix)}%`));
    if (after) conditions.push(or(gt(users.createdAt, after.createdAt), and(eq(users.createdAt, after.createdAt), gt(users.id, after.id)))!);
    return this.db
      .select()
      .from(users)
      .where(and(...conditions))
      .orderBy(asc(users.createdAt), asc(users.id))
      .limit(limit);
  }

  async update(id: string, changes: UserChanges, now: Date): Promise<UserRow | undefined> {
    const [row] = await this.db
      .update(users)
      .set({ ...changes, updatedAt: now })
      .where(and(eq(users.id, id), isNull(users.deletedAt)))
      .returning();
    return row;
  }

  /** Soft delete; the email is released by suffixing it, so the address can sign up again. */
  async softDelete(id: string, now: Date): Promise<UserRow | undefined> {
    const [row] = await this.db
      .update(users)
      .set({ deletedAt: now, disabled: true, updatedAt: now, email: sql`${users.email} || '#deleted:' || ${users.id}`, passwordHash: null, loginAlias: null })
      .where(and(eq(users.id, id), isNull(users.deletedAt)))
      .returning();
    return row;
  }

  async counts(): Promise<{ total: number; disabled: number }> {
    const [row] = await this.db
      .select({ total: sql<number>`count(*)::int`, disabled: sql<number>`count(*) filter (where ${users.disabled})::int` })
      .from(users)
      .where(isNull(users.deletedAt));
    return { total: Number(row?.total ?? 0), disabled: Number(row?.disabled ?? 0) };
  }
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}
