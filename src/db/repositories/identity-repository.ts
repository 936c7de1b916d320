import { and, eq } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { identities, type IdentityRow } from "../schema/index.js";

export class IdentityRepository {
  async find(db: DbOrTx, issuer: string, subject: string): Promise<IdentityRow | undefined> {
    const [row] = await db
      .select()
      .from(identities)
      .where(and(eq(identities.issuer, issuer), eq(identities.subject, subject)));
    return row;
  }

  /** Undefined when the identity is already linked (to anyone). */
  async link(db: DbOrTx, identity: Omit<IdentityRow, "createdAt">, now: Date): Promise<IdentityRow | undefined> {
    const [row] = await db
      .insert(identities)
      .values({ ...identity, createdAt: now })
      .onConflictDoNothing()
      .returning();
    return row;
  }

  /** Keeps the email the provider last reported. */
  async touchEmail(db: DbOrTx, issuer: string, subject: string, email: string): Promise<void> {
    await db
      .update(identities)
      .set({ email })
      .where(and(eq(identities.issuer, issuer), eq(identities.subject, subject)));
  }

  async unlink(db: DbOrTx, issuer: string, subject: string): Promise<void> {
    await db.delete(identities).where(and(eq(identities.issuer, issuer), eq(identities.subject, subject)));
  }
}
