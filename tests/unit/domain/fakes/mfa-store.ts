import { randomUUID } from "node:crypto";
import type { MfaChallengeRow, MfaFactorRow } from "../../../../src/domain/records.js";
import type { MfaStore, NewMfaChallenge } from "../../../../src/domain/store/mfa-store.js";
import { copy, foreignKey, uuidParam, type Rows } from "./tables.js";

/** MfaRepository in memory: factors, recovery codes and sign-in challenges. */
export class MemoryMfaStore implements MfaStore {
  constructor(private readonly rows: Rows) {}

  private get t() {
    return this.rows.tables;
  }

  /** A challenge still pending: unused and not expired (expires_at > now). */
  private pending(id: string, now: Date): MfaChallengeRow | undefined {
    const c = this.t.mfaChallenges.get(id);
    return c && !c.usedAt && c.expiresAt > now ? c : undefined;
  }

  async createFactor(f: { userId: string; type: string; secretEncrypted: string }, now: Date): Promise<MfaFactorRow> {
    foreignKey(this.t.users.has(f.userId), "mfa_factors_user_id_users_id_fk");
    const row: MfaFactorRow = {
      id: randomUUID(),
      ...f,
      confirmedAt: null,
      lastUsedStep: 0,
      createdAt: now,
      lastUsedAt: null,
      pendingCodeHash: null,
      pendingCodeExpiresAt: null,
    };
    return this.rows.insert(this.t.mfaFactors, row.id, row);
  }

  async factors(userId: string): Promise<MfaFactorRow[]> {
    return [...this.t.mfaFactors.values()].filter((f) => f.userId === userId).map(copy);
  }

  async confirmedFactors(userId: string, type?: string): Promise<MfaFactorRow[]> {
    return [...this.t.mfaFactors.values()].filter((f) => f.userId === userId && f.confirmedAt !== null && (!type || f.type === type)).map(copy);
  }

  async findFactor(id: string): Promise<MfaFactorRow | undefined> {
    const f = this.t.mfaFactors.get(uuidParam(id));
    return f && copy(f);
  }

  async claimStep(factorId: string, step: number, now: Date, confirm: boolean): Promise<MfaFactorRow | undefined> {
    const f = this.t.mfaFactors.get(uuidParam(factorId));
    if (!f || !(f.lastUsedStep < step)) return undefined; // only a step newer than every accepted one
    return this.rows.update(this.t.mfaFactors, factorId, { lastUsedStep: step, lastUsedAt: now, ...(confirm ? { confirmedAt: f.confirmedAt ?? now } : {}) });
  }

  async setPendingCode(factorId: string, codeHash: string, expiresAt: Date): Promise<void> {
    this.rows.update(this.t.mfaFactors, uuidParam(factorId), { pendingCodeHash: codeHash, pendingCodeExpiresAt: expiresAt });
  }

  async confirmPendingCode(factorId: string, codeHash: string, now: Date): Promise<MfaFactorRow | undefined> {
    const f = this.t.mfaFactors.get(uuidParam(factorId));
    if (!f || f.pendingCodeHash !== codeHash || !(f.pendingCodeExpiresAt && f.pendingCodeExpiresAt > now)) return undefined;
    return this.rows.update(this.t.mfaFactors, factorId, { confirmedAt: now, pendingCodeHash: null, pendingCodeExpiresAt: null });
  }

  async deleteFactor(id: string, userId: string): Promise<MfaFactorRow | undefined> {
    const f = this.t.mfaFactors.get(uuidParam(id));
    if (!f || f.userId !== userId) return undefined;
    return this.rows.delete(this.t.mfaFactors, id);
  }

  async replaceRecoveryCodes(userId: string, hashes: string[], now: Date): Promise<void> {
    await this.deleteRecoveryCodes(userId);
    for (const codeHash of hashes) {
      const id = randomUUID();
      this.rows.insert(this.t.recoveryCodes, id, { id, userId, codeHash, createdAt: now, usedAt: null });
    }
  }

  async useRecoveryCode(userId: string, codeHash: string, now: Date): Promise<boolean> {
    // UPDATE ... WHERE unused: true only when exactly one row matched.
    const matching = [...this.t.recoveryCodes.values()].filter((c) => c.userId === userId && c.codeHash === codeHash && !c.usedAt);
    for (const c of matching) this.rows.update(this.t.recoveryCodes, c.id, { usedAt: now });
    return matching.length === 1;
  }

  async remainingRecoveryCodes(userId: string): Promise<number> {
    return [...this.t.recoveryCodes.values()].filter((c) => c.userId === userId && !c.usedAt).length;
  }

  async deleteAllOf(userId: string): Promise<number> {
    await this.deleteRecoveryCodes(userId);
    for (const c of [...this.t.mfaChallenges.values()]) if (c.userId === userId) this.rows.delete(this.t.mfaChallenges, c.id);
    const factors = [...this.t.mfaFactors.values()].filter((f) => f.userId === userId);
    for (const f of factors) this.rows.delete(this.t.mfaFactors, f.id);
    return factors.length;
  }

  async deleteRecoveryCodes(userId: string): Promise<void> {
    for (const c of [...this.t.recoveryCodes.values()]) if (c.userId === userId) this.rows.delete(this.t.recoveryCodes, c.id);
  }

  async createChallenge(c: NewMfaChallenge): Promise<MfaChallengeRow> {
    foreignKey(this.t.users.has(c.userId), "mfa_challenges_user_id_users_id_fk");
    const row: MfaChallengeRow = { deviceId: null, ...c, usedAt: null, failedAttempts: 0, phoneCodeHash: null, phoneCodeExpiresAt: null, phone: null };
    return this.rows.insert(this.t.mfaChallenges, row.id, row, "mfa_challenges_pkey");
  }

  async findPendingChallenge(id: string, now: Date): Promise<MfaChallengeRow | undefined> {
    const c = this.pending(id, now);
    return c && copy(c);
  }

  async claimChallenge(id: string, now: Date): Promise<MfaChallengeRow | undefined> {
    if (!this.pending(id, now)) return undefined; // only an unused, unexpired challenge
    return this.rows.update(this.t.mfaChallenges, id, { usedAt: now });
  }

  async countFailure(id: string): Promise<number> {
    const c = this.t.mfaChallenges.get(id);
    if (!c) return 0;
    return this.rows.update(this.t.mfaChallenges, id, { failedAttempts: c.failedAttempts + 1 })!.failedAttempts;
  }

  async setPhoneCode(id: string, phone: string, codeHash: string, expiresAt: Date): Promise<void> {
    this.rows.update(this.t.mfaChallenges, id, { phone, phoneCodeHash: codeHash, phoneCodeExpiresAt: expiresAt });
  }

  async usePhoneCode(id: string, codeHash: string, now: Date): Promise<boolean> {
    const c = this.t.mfaChallenges.get(id);
    if (!c || c.phoneCodeHash !== codeHash || !(c.phoneCodeExpiresAt && c.phoneCodeExpiresAt > now)) return false;
    this.rows.update(this.t.mfaChallenges, id, { phoneCodeHash: null });
    return true;
  }
}
