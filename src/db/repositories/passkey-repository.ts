import { and, asc, eq, gt, isNull, lt, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { passkeys, webauthnChallenges, type PasskeyRow, type WebauthnChallengeRow } from "../schema/index.js";
import type { PasskeyStore, ChallengeKind, NewPasskey } from "../../domain/store/passkey-store.js";

export class PasskeyRepository implements PasskeyStore {
  constructor(private readonly db: DbOrTx) {}

  async createChallenge(c: Omit<WebauthnChallengeRow, "usedAt">): Promise<void> {
    await this.db.insert(webauthnChallenges).values(c);
  }

  /**
   * Uses a pending challenge once, in one statement: of two parallel completions exactly one
   * gets the row. A registration challenge is only usable by the user it was issued to.
   */
  async claimChallenge(id: string, kind: ChallengeKind, now: Date, userId?: string): Promise<WebauthnChallengeRow | undefined> {
    const conditions = [
      eq(webauthnChallenges.id, id),
      eq(webauthnChallenges.kind, kind),
      isNull(webauthnChallenges.usedAt),
      gt(webauthnChallenges.expiresAt, now),
    ];
    if (userId) conditions.push(eq(webauthnChallenges.userId, userId));
    const [row] = await this.db
      .update(webauthnChallenges)
      .set({ usedAt: now })
      .where(and(...conditions))
      .returning();
    return row;
  }

  async deleteChallengesExpiredBefore(before: Date): Promise<void> {
    await this.db.delete(webauthnChallenges).where(lt(webauthnChallenges.expiresAt, before));
  }

  async insert(p: NewPasskey): Promise<PasskeyRow | undefined> {
    const [row] = await this.db.insert(passkeys).values(p).onConflictDoNothing({ target: passkeys.credentialId }).returning();
    return row;
  }

  async listForUser(userId: string): Promise<PasskeyRow[]> {
    return this.db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.createdAt), asc(passkeys.id));
  }

  async countForUser(userId: string): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(passkeys)
      .where(eq(passkeys.userId, userId));
    return Number(row?.n ?? 0);
  }

  async findByCredentialId(credentialId: string): Promise<PasskeyRow | undefined> {
    const [row] = await this.db.select().from(passkeys).where(eq(passkeys.credentialId, credentialId));
    return row;
  }

  /**
   * Stores the counter of an accepted assertion, only if it grew (or both it and the stored one
   * are zero: an authenticator without a counter). One statement, so two parallel assertions
   * carrying the same counter cannot both pass. Undefined means the counter did not grow.
   */
  async recordAssertion(id: string, counter: number, backedUp: boolean, now: Date): Promise<PasskeyRow | undefined> {
    const grew = counter > 0 ? lt(passkeys.signCount, counter) : eq(passkeys.signCount, 0);
    const [row] = await this.db
      .update(passkeys)
      .set({ signCount: counter, backedUp, lastUsedAt: now })
      .where(and(eq(passkeys.id, id), grew))
      .returning();
    return row;
  }

  async deleteAllOf(userId: string): Promise<number> {
    const rows = await this.db.delete(passkeys).where(eq(passkeys.userId, userId)).returning({ id: passkeys.id });
    return rows.length;
  }

  async deleteOwn(id: string, userId: string): Promise<PasskeyRow | undefined> {
    const [row] = await this.db
      .delete(passkeys)
      .where(and(eq(passkeys.id, id), eq(passkeys.userId, userId)))
      .returning();
    return row;
  }
}
