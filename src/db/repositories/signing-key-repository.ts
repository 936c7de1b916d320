import { and, desc, eq, isNull, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { signingKeys, type SigningKeyRow } from "../schema/index.js";
import type { SigningKeyStore } from "../../domain/store/signing-key-store.js";

export class SigningKeyRepository implements SigningKeyStore {
  constructor(private readonly db: DbOrTx) {}

  async all(): Promise<SigningKeyRow[]> {
    return this.db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt));
  }

  async current(algorithm: string): Promise<SigningKeyRow | undefined> {
    const [row] = await this.db
      .select()
      .from(signingKeys)
      .where(and(isNull(signingKeys.retiredAt), eq(signingKeys.algorithm, algorithm)))
      .orderBy(desc(signingKeys.createdAt))
      .limit(1);
    return row;
  }

  async insert(row: Omit<SigningKeyRow, "retiredAt" | "verifyUntil">): Promise<void> {
    await this.db.insert(signingKeys).values(row);
  }

  /** Retires every signing key of the algorithm except `keepKid`. */
  async retireOthers(algorithm: string, keepKid: string, now: Date, verifyUntil: Date): Promise<string[]> {
    const rows = await this.db
      .update(signingKeys)
      .set({ retiredAt: now, verifyUntil })
      .where(and(eq(signingKeys.algorithm, algorithm), isNull(signingKeys.retiredAt), sql`${signingKeys.kid} <> ${keepKid}`))
      .returning({ kid: signingKeys.kid });
    return rows.map((r) => r.kid);
  }

  /** Serializes rotation between instances for the rest of the transaction. */
  async lockRotation(): Promise<void> {
    await this.db.execute(sql`select pg_advisory_xact_lock(7345002)`);
  }
}
