import { and, asc, eq, gt, or } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { connectors, type ConnectorRow } from "../schema/index.js";
import type { ConnectorStore } from "../../domain/store/federation-store.js";

export class ConnectorRepository implements ConnectorStore {
  constructor(private readonly db: DbOrTx) {}

  /** Undefined when the id or the issuer is taken. */
  async create(c: Omit<ConnectorRow, "createdAt">, now: Date): Promise<ConnectorRow | undefined> {
    const [row] = await this.db
      .insert(connectors)
      .values({ ...c, createdAt: now })
      .onConflictDoNothing()
      .returning();
    return row;
  }

  async find(id: string): Promise<ConnectorRow | undefined> {
    const [row] = await this.db.select().from(connectors).where(eq(connectors.id, id));
    return row;
  }

  async list(limit: number, after?: { createdAt: Date; id: string }): Promise<ConnectorRow[]> {
    return this.db
      .select()
      .from(connectors)
      .where(after ? or(gt(connectors.createdAt, after.createdAt), and(eq(connectors.createdAt, after.createdAt), gt(connectors.id, after.id))) : undefined)
      .orderBy(asc(connectors.createdAt), asc(connectors.id))
      .limit(limit);
  }

  async delete(id: string): Promise<ConnectorRow | undefined> {
    const [row] = await this.db.delete(connectors).where(eq(connectors.id, id)).returning();
    return row;
  }
}
