import { and, eq, gt, isNull, lt } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { joinChallenges, type JoinChallengeRow } from "../schema/index.js";
import type { JoinChallengeStore } from "../../domain/store/join-challenge-store.js";

const c = joinChallenges;

export class JoinChallengeRepository implements JoinChallengeStore {
  constructor(private readonly db: DbOrTx) {}

  async create(row: Omit<JoinChallengeRow, "usedAt">): Promise<void> {
    // Expired challenges go as new ones come: the table holds only what could still be answered.
    await this.db.delete(c).where(lt(c.expiresAt, row.createdAt));
    await this.db.insert(c).values(row);
  }

  async consume(idHash: string, purpose: string, now: Date): Promise<JoinChallengeRow | undefined> {
    const [row] = await this.db
      .update(c)
      .set({ usedAt: now })
      .where(and(eq(c.id, idHash), eq(c.purpose, purpose), isNull(c.usedAt), gt(c.expiresAt, now)))
      .returning();
    return row;
  }
}
