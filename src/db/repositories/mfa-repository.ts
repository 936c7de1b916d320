import { and, eq, gt, isNotNull, isNull, lt, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { mfaChallenges, mfaFactors, recoveryCodes, type MfaChallengeRow, type MfaFactorRow } from "../schema/index.js";
import type { MfaStore, NewMfaChallenge } from "../../domain/store/mfa-store.js";

export class MfaRepository implements MfaStore {
  constructor(private readonly db: DbOrTx) {}

  async createFactor(f: { userId: string; type: string; secretEncrypted: string }, now: Date): Promise<MfaFactorRow> {
    const [row] = await this.db
      .insert(mfaFactors)
      .values({ ...f, createdAt: now })
      .returning();
    return row!;
  }

  async factors(userId: string): Promise<MfaFactorRow[]> {
    return this.db.select().from(mfaFactors).where(eq(mfaFactors.userId, userId));
  }

  async confirmedFactors(userId: string, type?: string): Promise<MfaFactorRow[]> {
    const conditions = [eq(mfaFactors.userId, userId), isNotNull(mfaFactors.confirmedAt)];
    if (type) conditions.push(eq(mfaFactors.type, type));
    return this.db
      .select()
      .from(mfaFactors)
      .where(and(...conditions));
  }

  async findFactor(id: string): Promise<MfaFactorRow | undefined> {
    const [row] = await this.db.select().from(mfaFactors).where(eq(mfaFactors.id, id));
    return row;
  }

  /** Accepts a time step only if it is newer than every step accepted before (one statement). */
  async claimStep(factorId: string, step: number, now: Date, confirm: boolean): Promise<MfaFactorRow | undefined> {
    const [row] = await this.db
      .update(mfaFactors)
      .set({
        lastUsedStep: step,
        lastUsedAt: now,
        ...(confirm ? { confirmedAt: sql`coalesce(${mfaFactors.confirmedAt}, ${now.toISOString()}::timestamptz)` } : {}),
      })
      .where(and(eq(mfaFactors.id, factorId), lt(mfaFactors.lastUsedStep, step)))
      .returning();
    return row;
  }

  async setPendingCode(factorId: string, codeHash: string, expiresAt: Date): Promise<void> {
    await this.db.update(mfaFactors).set({ pendingCodeHash: codeHash, pendingCodeExpiresAt: expiresAt }).where(eq(mfaFactors.id, factorId));
  }

  /** Confirms a phone factor with its pending code, once. */
  async confirmPendingCode(factorId: string, codeHash: string, now: Date): Promise<MfaFactorRow | undefined> {
    const [row] = await this.db
      .update(mfaFactors)
      .set({ confirmedAt: now, pendingCodeHash: null, pendingCodeExpiresAt: null })
      .where(and(eq(mfaFactors.id, factorId), eq(mfaFactors.pendingCodeHash, codeHash), gt(mfaFactors.pendingCodeExpiresAt, now)))
      .returning();
    return row;
  }

  async deleteFactor(id: string, userId: string): Promise<MfaFactorRow | undefined> {
    const [row] = await this.db
      .delete(mfaFactors)
      .where(and(eq(mfaFactors.id, id), eq(mfaFactors.userId, userId)))
      .returning();
    return row;
  }

  async replaceRecoveryCodes(userId: string, hashes: string[], now: Date): Promise<void> {
    await this.db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
    await this.db.insert(recoveryCodes).values(hashes.map((codeHash) => ({ userId, codeHash, createdAt: now })));
  }

  /** Uses a recovery code: of two parallel uses, exactly one matches the unused row. */
  async useRecoveryCode(userId: string, codeHash: string, now: Date): Promise<boolean> {
    const rows = await this.db
      .update(recoveryCodes)
      .set({ usedAt: now })
      .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, codeHash), isNull(recoveryCodes.usedAt)))
      .returning({ id: recoveryCodes.id });
    return rows.length === 1;
  }

  async remainingRecoveryCodes(userId: string): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(recoveryCodes)
      .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
    return Number(row?.n ?? 0);
  }

  async deleteAllOf(userId: string): Promise<number> {
    await this.db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
    await this.db.delete(mfaChallenges).where(eq(mfaChallenges.userId, userId));
    const rows = await this.db.delete(mfaFactors).where(eq(mfaFactors.userId, userId)).returning({ id: mfaFactors.id });
    return rows.length;
  }

  async deleteRecoveryCodes(userId: string): Promise<void> {
    await this.db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  }

  async createChallenge(c: NewMfaChallenge): Promise<MfaChallengeRow> {
    const [row] = await this.db.insert(mfaChallenges).values(c).returning();
    return row!;
  }

  async findPendingChallenge(id: string, now: Date): Promise<MfaChallengeRow | undefined> {
    const [row] = await this.db
      .select()
      .from(mfaChallenges)
      .where(and(eq(mfaChallenges.id, id), isNull(mfaChallenges.usedAt), gt(mfaChallenges.expiresAt, now)));
    return row;
  }

  /** Claims a pending challenge once: of two parallel completions, one wins. */
  async claimChallenge(id: string, now: Date): Promise<MfaChallengeRow | undefined> {
    const [row] = await this.db
      .update(mfaChallenges)
      .set({ usedAt: now })
      .where(and(eq(mfaChallenges.id, id), isNull(mfaChallenges.usedAt), gt(mfaChallenges.expiresAt, now)))
      .returning();
    return row;
  }

  async countFailure(id: string): Promise<number> {
    const [row] = await this.db
      .update(mfaChallenges)
      .set({ failedAttempts: sql`${mfaChallenges.failedAttempts} + 1` })
      .where(eq(mfaChallenges.id, id))
      .returning({ n: mfaChallenges.failedAttempts });
    return row?.n ?? 0;
  }

  async setPhoneCode(id: string, phone: string, codeHash: string, expiresAt: Date): Promise<void> {
    await this.db.update(mfaChallenges).set({ phone, phoneCodeHash: codeHash, phoneCodeExpiresAt: expiresAt }).where(eq(mfaChallenges.id, id));
  }

  /** Uses the challenge's phone code once. */
  async usePhoneCode(id: string, codeHash: string, now: Date): Promise<boolean> {
    const rows = await this.db
      .update(mfaChallenges)
      .set({ phoneCodeHash: null })
      .where(and(eq(mfaChallenges.id, id), eq(mfaChallenges.phoneCodeHash, codeHash), gt(mfaChallenges.phoneCodeExpiresAt, now)))
      .returning({ id: mfaChallenges.id });
    return rows.length === 1;
  }
}
