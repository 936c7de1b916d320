import { and, desc, eq, gt, lt, or, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { joinTokens, type JoinTokenRow } from "../schema/index.js";
import type { JoinTokenStore } from "../../domain/store/join-store.js";

const t = joinTokens;

export class JoinTokenRepository implements JoinTokenStore {
  constructor(private readonly db: DbOrTx) {}

  async create(row: Omit<JoinTokenRow, "id">): Promise<JoinTokenRow> {
    const [created] = await this.db.insert(t).values(row).returning();
    return created!;
  }

  async list(limit: number, after?: { createdAt: Date; id: string }): Promise<JoinTokenRow[]> {
    const older = after ? or(lt(t.createdAt, after.createdAt), and(eq(t.createdAt, after.createdAt), lt(t.id, after.id))) : undefined;
    return this.db.select().from(t).where(older).orderBy(desc(t.createdAt), desc(t.id)).limit(limit);
  }

  async delete(id: string): Promise<JoinTokenRow | undefined> {
    const [deleted] = await this.db.delete(t).where(eq(t.id, id)).returning();
    return deleted;
  }

  async findByHash(tokenHash: string): Promise<JoinTokenRow | undefined> {
    const [row] = await this.db.select().from(t).where(eq(t.tokenHash, tokenHash));
    return row;
  }

  async lockByHash(tokenHash: string): Promise<JoinTokenRow | undefined> {
    const [row] = await this.db.select().from(t).where(eq(t.tokenHash, tokenHash)).for("update");
    return row;
  }

  async spendUse(id: string): Promise<boolean> {
    const spent = await this.db
      .update(t)
      .set({ usesRemaining: sql`${t.usesRemaining} - 1` })
      .where(and(eq(t.id, id), gt(t.usesRemaining, 0)))
      .returning({ id: t.id });
    return spent.length > 0;
  }
}
