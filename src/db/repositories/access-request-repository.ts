import { and, arrayContained, desc, eq, gt, inArray, lt, lte, or, sql, type SQL } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { accessRequests, nodes, type AccessRequestRow } from "../schema/index.js";
import { reachableSql } from "./node-labels-sql.js";
import type { AccessRequestScope, AccessRequestState, AccessRequestStore } from "../../domain/store/access-request-store.js";

const t = accessRequests;

export class AccessRequestRepository implements AccessRequestStore {
  constructor(private readonly db: DbOrTx) {}

  async create(row: Omit<AccessRequestRow, "id">): Promise<AccessRequestRow> {
    const [created] = await this.db.insert(t).values(row).returning();
    return created!;
  }

  async find(id: string): Promise<AccessRequestRow | undefined> {
    const [row] = await this.db.select().from(t).where(eq(t.id, id));
    return row;
  }

  async findForUpdate(id: string): Promise<AccessRequestRow | undefined> {
    const [row] = await this.db.select().from(t).where(eq(t.id, id)).for("update");
    return row;
  }

  async update(id: string, set: Partial<Omit<AccessRequestRow, "id">>): Promise<AccessRequestRow> {
    const [row] = await this.db.update(t).set(set).where(eq(t.id, id)).returning();
    return row!;
  }

  async list(
    limit: number,
    scope: AccessRequestScope,
    now: Date,
    after?: { createdAt: Date; id: string },
    state?: AccessRequestState,
  ): Promise<AccessRequestRow[]> {
    const older = after ? or(lt(t.createdAt, after.createdAt), and(eq(t.createdAt, after.createdAt), lt(t.id, after.id))) : undefined;
    const visible = scope.all ? undefined : or(eq(t.userId, scope.userId), reviewableSql(scope));
    return this.db
      .select()
      .from(t)
      .where(and(older, visible, state ? stateAt(state, now) : undefined))
      .orderBy(desc(t.createdAt), desc(t.id))
      .limit(limit);
  }

  async countPending(userId: string, now: Date): Promise<number> {
    return this.db.$count(t, and(eq(t.userId, userId), stateAt("pending", now)));
  }

  async expireLapsed(now: Date, limit: number): Promise<AccessRequestRow[]> {
    // SKIP LOCKED: a row another sweep (or a review, a cancel) holds is left to it; the state test
    // in the UPDATE itself decides, so a row is expired once whoever gets it first.
    const lapsed = or(and(eq(t.state, "approved"), lte(t.accessExpiresAt, now)), and(eq(t.state, "pending"), lte(t.pendingExpiresAt, now)));
    const due = this.db.select({ id: t.id }).from(t).where(lapsed).limit(limit).for("update", { skipLocked: true });
    const rows = await this.db
      .update(t)
      .set({ state: "expired", updatedAt: now })
      .where(and(inArray(t.id, due), lapsed))
      .returning();
    // What they were: approved ones carry their access expiry, pending ones never do.
    return rows.map((r) => ({ ...r, state: r.accessExpiresAt ? "approved" : "pending" }));
  }

  async granting(now: Date): Promise<AccessRequestRow[]> {
    return this.db
      .select()
      .from(t)
      .where(and(eq(t.state, "approved"), gt(t.accessExpiresAt, now)));
  }
}

/**
 * Requests a reviewer may see: every role among their reviewable ones and every node reached by
 * one of those roles' node_labels (a request with no nodes passes that part; one with neither
 * roles nor nodes cannot exist).
 */
function reviewableSql(scope: AccessRequestScope): SQL | undefined {
  if (scope.reviewable.length === 0) return undefined;
  const nodesReached = sql`not exists (select 1 from unnest(${t.nodeIds}) as asked(id) where not exists (select 1 from ${nodes} where ${nodes.id} = asked.id and ${reachableSql(scope.reviewableNodeLabels)}))`;
  return and(arrayContained(t.roles, scope.reviewable), nodesReached);
}

/** The effective state: pending and approved requests lapse by their times. */
function stateAt(state: AccessRequestState, now: Date): SQL | undefined {
  switch (state) {
    case "pending":
      return and(eq(t.state, "pending"), gt(t.pendingExpiresAt, now));
    case "approved":
      return and(eq(t.state, "approved"), gt(t.accessExpiresAt, now));
    case "expired":
      return or(eq(t.state, "expired"), and(eq(t.state, "pending"), lte(t.pendingExpiresAt, now)), and(eq(t.state, "approved"), lte(t.accessExpiresAt, now)));
    default:
      return eq(t.state, state);
  }
}
