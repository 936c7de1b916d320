import { and, asc, eq, gt, isNull, or } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { serviceAccounts, type ServiceAccountRow } from "../schema/index.js";

export class ServiceAccountRepository {
  async create(
    db: DbOrTx,
    sa: Pick<ServiceAccountRow, "organizationId" | "clientId" | "name" | "secretHash" | "scopes">,
    now: Date,
  ): Promise<ServiceAccountRow> {
    const [row] = await db
      .insert(serviceAccounts)
      .values({ ...sa, createdAt: now, updatedAt: now })
      .returning();
    return row!;
  }

  /** Live (not deleted) service account. */
  async findById(db: DbOrTx, id: string): Promise<ServiceAccountRow | undefined> {
    const [row] = await db
      .select()
      .from(serviceAccounts)
      .where(and(eq(serviceAccounts.id, id), isNull(serviceAccounts.deletedAt)));
    return row;
  }

  async findByClientId(db: DbOrTx, clientId: string): Promise<ServiceAccountRow | undefined> {
    const [row] = await db
      .select()
      .from(serviceAccounts)
      .where(and(eq(serviceAccounts.clientId, clientId), isNull(serviceAccounts.deletedAt)));
    return row;
  }

  async update(
    db: DbOrTx,
    id: string,
    set: Partial<Pick<ServiceAccountRow, "name" | "scopes" | "disabled" | "secretHash" | "deletedAt">>,
    now: Date,
  ): Promise<ServiceAccountRow | undefined> {
    const [row] = await db
      .update(serviceAccounts)
      .set({ ...set, updatedAt: now })
      .where(and(eq(serviceAccounts.id, id), isNull(serviceAccounts.deletedAt)))
      .returning();
    return row;
  }

  async list(db: DbOrTx, organizationId: string, limit: number, cursor?: { createdAt: Date; id: string }): Promise<ServiceAccountRow[]> {
    const conditions = [eq(serviceAccounts.organizationId, organizationId), isNull(serviceAccounts.deletedAt)];
    if (cursor)
      conditions.push(
        or(gt(serviceAccounts.createdAt, cursor.createdAt), and(eq(serviceAccounts.createdAt, cursor.createdAt), gt(serviceAccounts.id, cursor.id)))!,
      );
    return db
      .select()
      .from(serviceAccounts)
      .where(and(...conditions))
      .orderBy(asc(serviceAccounts.createdAt), asc(serviceAccounts.id))
      .limit(limit);
  }
}
