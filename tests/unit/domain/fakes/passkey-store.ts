import { randomUUID } from "node:crypto";
import type { PasskeyRow, WebauthnChallengeRow } from "../../../../src/domain/records.js";
import type { ChallengeKind, NewPasskey, PasskeyStore } from "../../../../src/domain/store/passkey-store.js";
import { byCreated, copy, type Rows } from "./tables.js";

/** PasskeyRepository in memory. */
export class MemoryPasskeyStore implements PasskeyStore {
  constructor(private readonly rows: Rows) {}

  private get t() {
    return this.rows.tables;
  }

  async createChallenge(c: Omit<WebauthnChallengeRow, "usedAt">): Promise<void> {
    this.rows.insert(this.t.webauthnChallenges, c.id, { ...c, usedAt: null }, "webauthn_challenges_pkey");
  }

  async claimChallenge(id: string, kind: ChallengeKind, now: Date, userId?: string): Promise<WebauthnChallengeRow | undefined> {
    const c = this.t.webauthnChallenges.get(id);
    if (!c || c.kind !== kind || c.usedAt || !(c.expiresAt > now) || (userId && c.userId !== userId)) return undefined;
    return this.rows.update(this.t.webauthnChallenges, id, { usedAt: now });
  }

  async deleteChallengesExpiredBefore(before: Date): Promise<void> {
    for (const c of [...this.t.webauthnChallenges.values()]) if (c.expiresAt < before) this.rows.delete(this.t.webauthnChallenges, c.id);
  }

  async insert(p: NewPasskey): Promise<PasskeyRow | undefined> {
    if ([...this.t.passkeys.values()].some((k) => k.credentialId === p.credentialId)) return undefined;
    const row: PasskeyRow = { id: randomUUID(), ...p, lastUsedAt: null };
    return this.rows.insert(this.t.passkeys, row.id, row);
  }

  async listForUser(userId: string): Promise<PasskeyRow[]> {
    return [...this.t.passkeys.values()]
      .filter((p) => p.userId === userId)
      .sort(byCreated((p) => p.id))
      .map(copy);
  }

  async countForUser(userId: string): Promise<number> {
    return [...this.t.passkeys.values()].filter((p) => p.userId === userId).length;
  }

  async findByCredentialId(credentialId: string): Promise<PasskeyRow | undefined> {
    const p = [...this.t.passkeys.values()].find((k) => k.credentialId === credentialId);
    return p && copy(p);
  }

  async recordAssertion(id: string, counter: number, backedUp: boolean, now: Date): Promise<PasskeyRow | undefined> {
    const p = this.t.passkeys.get(id);
    const grew = p && (counter > 0 ? p.signCount < counter : p.signCount === 0);
    if (!grew) return undefined;
    return this.rows.update(this.t.passkeys, id, { signCount: counter, backedUp, lastUsedAt: now });
  }

  async deleteAllOf(userId: string): Promise<number> {
    const ids = [...this.t.passkeys.values()].filter((p) => p.userId === userId).map((p) => p.id);
    for (const id of ids) this.rows.delete(this.t.passkeys, id);
    return ids.length;
  }

  async deleteOwn(id: string, userId: string): Promise<PasskeyRow | undefined> {
    const p = this.t.passkeys.get(id);
    return p && p.userId === userId ? this.rows.delete(this.t.passkeys, id) : undefined;
  }
}
