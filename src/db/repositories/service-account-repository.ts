import { and, asc, eq, gt, isNull, or } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { serviceAccounts, type ServiceAccountRow } from "../schema/index.js";
import type { ServiceAccountStore, ServiceAccountChanges } from "../../domain/store/service-account-store.js";

export class ServiceAccountRepository implements ServiceAccountStore {
  constructor(private readonly db: DbOrTx) {}

  async create(sa: Pick<ServiceAccountRow, "organizationId" | "clientId" | "name" | "secretHash" | "scopes">, now: Date): Promise<ServiceAccountRow> {
    const [row] = await this.db
      .insert(serviceAccounts)
      .values({ ...sa, createdAt: now, updatedAt: now })
      .returning();
    return row!;
  }

  /** Live (not deleted) service account. */
  async findById(id: string): Promise<ServiceAccountRow | undefined> {
    const [row] = await this.db
      .select()
      .from(serviceAccounts)
      .where(and(eq(serviceAccounts.id, id), isNull(serviceAccounts.deletedAt)));
    return row;
  }

  async findByClientId(clientId: string): Promise<ServiceAccountRow | undefined> {
    const [row] = await this.db
      .select()
      .from(serviceAccounts)
      .where(and(eq(serviceAccounts.clientId, clientId), isNull(serviceAccounts.deletedAt)));
    return row;
  }

  async update(id: string, set: ServiceAccountChanges, now: Date): Promise<ServiceAccountRow | undefined> {
    const [row] = await this.db
      .update(serviceAccounts)
      .set({ ...set, updatedAt: now })
      .where(and(eq(serviceAccounts.id, id), isNull(serviceAccounts.deletedAt)))
      .returning();
    return row;
  }

  async list(organizationId: string, limit: number, cursor?: { createdAt: Date; id: string }): Promise<ServiceAccountRow[]> {
    const conditions = [eq(serviceAccounts.organizationId, organizationId), isNull(serviceAccounts.deletedAt)];
    if (cursor)
      conditions.push(
        or(gt(serviceAccounts.createdAt, cursor.createdAt), and(eq(serviceAccounts.createdAt, cursor.createdAt), gt(serviceAccounts.id, cursor.id)))!,
      );
    return this.db
      .select()
      .from(serviceAccounts)
      .where(and(...conditions))
      .orderBy(asc(serviceAccounts.createdAt), asc(serviceAccounts.id))
      .limit(limit);
  }
}
