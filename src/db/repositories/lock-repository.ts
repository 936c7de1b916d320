import { and, desc, eq, gt, isNull, lt, or } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { locks, type LockRow } from "../schema/index.js";
import type { LockStore, LockTargetKind } from "../../domain/store/lock-store.js";

const t = locks;

export class LockRepository implements LockStore {
  constructor(private readonly db: DbOrTx) {}

  async create(row: Omit<LockRow, "id">): Promise<LockRow> {
    const [created] = await this.db.insert(t).values(row).returning();
    return created!;
  }

  async list(limit: number, after?: { createdAt: Date; id: string }, kind?: LockTargetKind): Promise<LockRow[]> {
    const older = after ? or(lt(t.createdAt, after.createdAt), and(eq(t.createdAt, after.createdAt), lt(t.id, after.id))) : undefined;
    return this.db
      .select()
      .from(t)
      .where(and(older, kind ? eq(t.targetKind, kind) : undefined))
      .orderBy(desc(t.createdAt), desc(t.id))
      .limit(limit);
  }

  async delete(id: string): Promise<LockRow | undefined> {
    const [deleted] = await this.db.delete(t).where(eq(t.id, id)).returning();
    return deleted;
  }

  async active(now: Date): Promise<LockRow[]> {
    return this.db
      .select()
      .from(t)
      .where(or(isNull(t.expiresAt), gt(t.expiresAt, now)));
  }
}
