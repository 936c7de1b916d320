import { and, asc, count, desc, eq, gt, lt, or } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { accessPolicies, type AccessPolicyRow } from "../schema/index.js";
import type { PolicyFields, PolicyStore } from "../../domain/store/policy-store.js";

/** A unique violation (SQLSTATE 23505), as postgres.js or PGlite raise it, possibly wrapped by Drizzle. */
function isUniqueViolation(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++)
    if (e.code === "23505") return true;
  return false;
}

export class PolicyRepository implements PolicyStore {
  constructor(private readonly db: DbOrTx) {}

  async create(p: PolicyFields & { organizationId: string }, now: Date): Promise<AccessPolicyRow | undefined> {
    const [row] = await this.db
      .insert(accessPolicies)
      .values({ ...p, createdAt: now, updatedAt: now })
      .onConflictDoNothing({ target: [accessPolicies.organizationId, accessPolicies.name] })
      .returning();
    return row;
  }

  async findById(id: string): Promise<AccessPolicyRow | undefined> {
    const [row] = await this.db.select().from(accessPolicies).where(eq(accessPolicies.id, id));
    return row;
  }

  async update(id: string, set: PolicyFields, now: Date): Promise<AccessPolicyRow | "name_taken" | undefined> {
    try {
      const [row] = await this.db
        .update(accessPolicies)
        .set({ ...set, updatedAt: now })
        .where(eq(accessPolicies.id, id))
        .returning();
      return row;
    } catch (err) {
      if (isUniqueViolation(err)) return "name_taken";
      throw err;
    }
  }

  async delete(id: string): Promise<AccessPolicyRow | undefined> {
    const [row] = await this.db.delete(accessPolicies).where(eq(accessPolicies.id, id)).returning();
    return row;
  }

  async list(organizationId: string, limit: number, after?: { priority: number; id: string }): Promise<AccessPolicyRow[]> {
    const conditions = [eq(accessPolicies.organizationId, organizationId)];
    if (after)
      conditions.push(or(lt(accessPolicies.priority, after.priority), and(eq(accessPolicies.priority, after.priority), gt(accessPolicies.id, after.id)))!);
    return this.db
      .select()
      .from(accessPolicies)
      .where(and(...conditions))
      .orderBy(desc(accessPolicies.priority), asc(accessPolicies.id))
      .limit(limit);
  }

  async listEnabled(organizationId: string, limit: number): Promise<AccessPolicyRow[]> {
    return this.db
      .select()
      .from(accessPolicies)
      .where(and(eq(accessPolicies.organizationId, organizationId), eq(accessPolicies.enabled, true)))
      .orderBy(desc(accessPolicies.priority), asc(accessPolicies.name))
      .limit(limit);
  }

  async count(organizationId: string): Promise<number> {
    const [row] = await this.db.select({ n: count() }).from(accessPolicies).where(eq(accessPolicies.organizationId, organizationId));
    return row?.n ?? 0;
  }
}
