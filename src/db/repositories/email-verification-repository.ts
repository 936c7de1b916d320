import { eq, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { emailVerifications, type EmailVerificationRow } from "../schema/index.js";
import type { EmailVerificationStore } from "../../domain/store/email-verification-store.js";

export class EmailVerificationRepository implements EmailVerificationStore {
  constructor(private readonly db: DbOrTx) {}

  async put(v: Omit<EmailVerificationRow, "failedAttempts">): Promise<void> {
    await this.db
      .insert(emailVerifications)
      .values({ ...v, failedAttempts: 0 })
      .onConflictDoUpdate({
        target: emailVerifications.userId,
        set: { email: v.email, codeHash: v.codeHash, linkTokenHash: v.linkTokenHash, failedAttempts: 0, createdAt: v.createdAt, expiresAt: v.expiresAt },
      });
  }

  async find(userId: string): Promise<EmailVerificationRow | undefined> {
    const [row] = await this.db.select().from(emailVerifications).where(eq(emailVerifications.userId, userId));
    return row;
  }

  async findByLinkToken(linkTokenHash: string): Promise<EmailVerificationRow | undefined> {
    const [row] = await this.db.select().from(emailVerifications).where(eq(emailVerifications.linkTokenHash, linkTokenHash));
    return row;
  }

  async countFailure(userId: string): Promise<number> {
    const [row] = await this.db
      .update(emailVerifications)
      .set({ failedAttempts: sql`${emailVerifications.failedAttempts} + 1` })
      .where(eq(emailVerifications.userId, userId))
      .returning({ n: emailVerifications.failedAttempts });
    return row?.n ?? 0;
  }

  async take(userId: string): Promise<EmailVerificationRow | undefined> {
    const [row] = await this.db.delete(emailVerifications).where(eq(emailVerifications.userId, userId)).returning();
    return row;
  }
}
