import { and, asc, eq, gt, or } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { connectors, type ConnectorRow } from "../schema/index.js";

export class ConnectorRepository {
  /** Undefined when the id or the issuer is taken. */
  async create(db: DbOrTx, c: Omit<ConnectorRow, "createdAt">, now: Date): Promise<ConnectorRow | undefined> {
    const [row] = await db
      .insert(connectors)
      .values({ ...c, createdAt: now })
      .onConflictDoNothing()
      .returning();
    return row;
  }

  async find(db: DbOrTx, id: string): Promise<ConnectorRow | undefined> {
    const [row] = await db.select().from(connectors).where(eq(connectors.id, id));
    return row;
  }

  async list(db: DbOrTx, limit: number, after?: { createdAt: Date; id: string }): Promise<ConnectorRow[]> {
    return db
      .select()
      .from(connectors)
      .where(after ? or(gt(connectors.createdAt, after.createdAt), and(eq(connectors.createdAt, after.createdAt), gt(connectors.id, after.id))) : undefined)
      .orderBy(asc(connectors.createdAt), asc(connectors.id))
      .limit(limit);
  }

  async delete(db: DbOrTx, id: string): Promise<ConnectorRow | undefined> {
    const [row] = await db.delete(connectors).where(eq(connectors.id, id)).returning();
    return row;
  }
}
