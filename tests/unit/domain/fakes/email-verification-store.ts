import type { EmailVerificationRow } from "../../../../src/domain/records.js";
import type { EmailVerificationStore } from "../../../../src/domain/store/email-verification-store.js";
import { copy, foreignKey, uuidParam, type Rows } from "./tables.js";

/** EmailVerificationRepository in memory: one pending verification per user. */
export class MemoryEmailVerificationStore implements EmailVerificationStore {
  constructor(private readonly rows: Rows) {}

  private get t() {
    return this.rows.tables;
  }

  async put(v: Omit<EmailVerificationRow, "failedAttempts">): Promise<void> {
    foreignKey(this.t.users.has(uuidParam(v.userId)), "email_verifications_user_id_users_id_fk");
    if (this.t.emailVerifications.has(v.userId)) this.rows.delete(this.t.emailVerifications, v.userId);
    this.rows.insert(this.t.emailVerifications, v.userId, { ...v, failedAttempts: 0 });
  }

  async find(userId: string): Promise<EmailVerificationRow | undefined> {
    const v = this.t.emailVerifications.get(uuidParam(userId));
    return v && copy(v);
  }

  async findByLinkToken(linkTokenHash: string): Promise<EmailVerificationRow | undefined> {
    const v = [...this.t.emailVerifications.values()].find((r) => r.linkTokenHash === linkTokenHash);
    return v && copy(v);
  }

  async countFailure(userId: string): Promise<number> {
    const v = this.t.emailVerifications.get(uuidParam(userId));
    if (!v) return 0;
    return this.rows.update(this.t.emailVerifications, userId, { failedAttempts: v.failedAttempts + 1 })!.failedAttempts;
  }

  async take(userId: string): Promise<EmailVerificationRow | undefined> {
    return this.t.emailVerifications.has(uuidParam(userId)) ? this.rows.delete(this.t.emailVerifications, userId) : undefined;
  }
}
