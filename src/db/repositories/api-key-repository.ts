import { and, asc, eq, gt, isNull, or } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { apiKeys, type ApiKeyRow } from "../schema/index.js";
import type { ApiKeyStore, NewApiKey } from "../../domain/store/api-key-store.js";

export class ApiKeyRepository implements ApiKeyStore {
  constructor(private readonly db: DbOrTx) {}

  async create(key: NewApiKey, now: Date): Promise<ApiKeyRow> {
    const [row] = await this.db
      .insert(apiKeys)
      .values({ ...key, createdAt: now })
      .returning();
    return row!;
  }

  async findByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
    const [row] = await this.db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash));
    return row;
  }

  async findById(id: string): Promise<ApiKeyRow | undefined> {
    const [row] = await this.db.select().from(apiKeys).where(eq(apiKeys.id, id));
    return row;
  }

  async revoke(id: string, at: Date): Promise<ApiKeyRow | undefined> {
    const [row] = await this.db
      .update(apiKeys)
      .set({ revokedAt: at })
      .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
      .returning();
    return row;
  }

  /**
   * Marks a live key as replaced and sets when it stops working, in one statement: of two
   * concurrent rotations of the same key, exactly one claims it.
   */
  async claimForRotation(id: string, replacedBy: string, revokeAt: Date): Promise<ApiKeyRow | undefined> {
    const [row] = await this.db
      .update(apiKeys)
      .set({ replacedBy, revokedAt: revokeAt })
      .where(and(eq(apiKeys.id, id), isNull(apiKeys.replacedBy), isNull(apiKeys.revokedAt)))
      .returning();
    return row;
  }

  async touch(id: string, now: Date): Promise<void> {
    await this.db.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, id));
  }

  async list(organizationId: string, limit: number, opts: { ownerUserId?: string; cursor?: { createdAt: Date; id: string } }): Promise<ApiKeyRow[]> {
    const conditions = [eq(apiKeys.organizationId, organizationId)];
    if (opts.ownerUserId) conditions.push(eq(apiKeys.ownerUserId, opts.ownerUserId));
    if (opts.cursor)
      conditions.push(or(gt(apiKeys.createdAt, opts.cursor.createdAt), and(eq(apiKeys.createdAt, opts.cursor.createdAt), gt(apiKeys.id, opts.cursor.id)))!);
    return this.db
      .select()
      .from(apiKeys)
      .where(and(...conditions))
      .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id))
      .limit(limit);
  }

  async revokeAllOfUser(userId: string, at: Date): Promise<string[]> {
    const rows = await this.db
      .update(apiKeys)
      .set({ revokedAt: at })
      .where(and(eq(apiKeys.ownerUserId, userId), or(isNull(apiKeys.revokedAt), gt(apiKeys.revokedAt, at))))
      .returning({ id: apiKeys.id });
    return rows.map((r) => r.id);
  }

  async revokeAllOfServiceAccount(serviceAccountId: string, at: Date): Promise<string[]> {
    const rows = await this.db
      .update(apiKeys)
      .set({ revokedAt: at })
      .where(and(eq(apiKeys.ownerServiceAccountId, serviceAccountId), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    return rows.map((r) => r.id);
  }
}
