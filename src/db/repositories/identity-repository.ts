import { and, eq } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { identities, type IdentityRow } from "../schema/index.js";
import type { IdentityStore } from "../../domain/store/federation-store.js";

export class IdentityRepository implements IdentityStore {
  constructor(private readonly db: DbOrTx) {}

  async find(issuer: string, subject: string): Promise<IdentityRow | undefined> {
    const [row] = await this.db
      .select()
      .from(identities)
      .where(and(eq(identities.issuer, issuer), eq(identities.subject, subject)));
    return row;
  }

  /** Undefined when the identity is already linked (to anyone). */
  async link(identity: Omit<IdentityRow, "createdAt">, now: Date): Promise<IdentityRow | undefined> {
    const [row] = await this.db
      .insert(identities)
      .values({ ...identity, createdAt: now })
      .onConflictDoNothing()
      .returning();
    return row;
  }

  /** Keeps the email the provider last reported. */
  async touchEmail(issuer: string, subject: string, email: string): Promise<void> {
    await this.db
      .update(identities)
      .set({ email })
      .where(and(eq(identities.issuer, issuer), eq(identities.subject, subject)));
  }

  async unlinkAllOf(userId: string): Promise<number> {
    const rows = await this.db.delete(identities).where(eq(identities.userId, userId)).returning({ subject: identities.subject });
    return rows.length;
  }

  async unlink(issuer: string, subject: string): Promise<void> {
    await this.db.delete(identities).where(and(eq(identities.issuer, issuer), eq(identities.subject, subject)));
  }
}
