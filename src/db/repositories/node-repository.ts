import { and, asc, eq, gt, inArray, isNull, lte, or, sql, type SQL } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { nodes, type NodeRow } from "../schema/index.js";
import { effective, reachableSql } from "./node-labels-sql.js";
import type { HeartbeatUpdate, NodeQuery, NodeRegistration, NodeStore } from "../../domain/store/join-store.js";

const n = nodes;

/** One selector term as SQL over the effective labels (values bound as parameters). */
function termSql(term: NodeQuery["selector"][number]): SQL {
  switch (term.op) {
    case "eq":
      return sql`(${effective} ->> ${term.key}) = ${term.value}`;
    case "ne":
      return sql`(${effective} ->> ${term.key}) is distinct from ${term.value}`;
    case "exists":
      return sql`jsonb_exists(${effective}, ${term.key})`;
    case "missing":
      return sql`not jsonb_exists(${effective}, ${term.key})`;
  }
}

export class NodeRepository implements NodeStore {
  constructor(private readonly db: DbOrTx) {}

  async findPending(joinTokenId: string, hostKeyFingerprint: string): Promise<NodeRow | undefined> {
    const [row] = await this.db
      .select()
      .from(n)
      .where(and(eq(n.joinTokenId, joinTokenId), eq(n.hostKeyFingerprint, hostKeyFingerprint), eq(n.state, "pending")));
    return row;
  }

  async pendingOf(joinTokenId: string): Promise<NodeRow[]> {
    return this.db
      .select()
      .from(n)
      .where(and(eq(n.joinTokenId, joinTokenId), eq(n.state, "pending")));
  }

  async createPending(row: Parameters<NodeStore["createPending"]>[0]): Promise<NodeRow> {
    const [created] = await this.db.insert(n).values(row).returning();
    return created!;
  }

  async register(id: string, reg: NodeRegistration): Promise<NodeRow> {
    const [row] = await this.db
      .update(n)
      .set({ ...reg, state: "registered", lastHeartbeatAt: reg.registeredAt })
      .where(and(eq(n.id, id), eq(n.state, "pending")))
      .returning();
    if (!row) throw new Error(`node ${id} is not pending`);
    return row;
  }

  async createRegistered(row: Parameters<NodeStore["createRegistered"]>[0]): Promise<NodeRow> {
    const [created] = await this.db
      .insert(n)
      .values({ ...row, lastHeartbeatAt: row.registeredAt })
      .returning();
    return created!;
  }

  async findRegistered(id: string): Promise<NodeRow | undefined> {
    const [row] = await this.db
      .select()
      .from(n)
      .where(and(eq(n.id, id), eq(n.state, "registered")));
    return row;
  }

  async deregister(id: string, at: Date): Promise<boolean> {
    const done = await this.db
      .update(n)
      .set({ state: "deregistered", deregisteredAt: at, agentTokenHash: null })
      .where(and(eq(n.id, id), eq(n.state, "registered")))
      .returning({ id: n.id });
    return done.length > 0;
  }

  async bindHostKey(id: string, hostKeyFingerprint: string): Promise<void> {
    await this.db
      .update(n)
      .set({ hostKeyFingerprint })
      .where(and(eq(n.id, id), isNull(n.hostKeyFingerprint)));
  }

  async recordHeartbeats(updates: HeartbeatUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    // One statement for the whole batch, whatever its size: a field an agent did not report keeps its value.
    const rows = JSON.stringify(
      updates.map((u) => ({ id: u.id, at: u.at.toISOString(), labels: u.labels ?? null, version: u.version ?? null, addresses: u.addresses ?? null })),
    );
    await this.db.execute(sql`
      update nodes set
        last_heartbeat_at = v.at,
        agent_labels = coalesce(v.labels, nodes.agent_labels),
        version = coalesce(v.version, nodes.version),
        addresses = coalesce(v.addresses, nodes.addresses)
      from jsonb_to_recordset(${rows}::jsonb) as v(id uuid, at timestamptz, labels jsonb, version text, addresses jsonb)
      where nodes.id = v.id and nodes.state = 'registered'`);
  }

  async setAdminLabels(id: string, labels: Record<string, string>): Promise<NodeRow | undefined> {
    const [row] = await this.db
      .update(n)
      .set({ adminLabels: labels })
      .where(and(eq(n.id, id), eq(n.state, "registered")))
      .returning();
    return row;
  }

  async list(q: NodeQuery): Promise<NodeRow[]> {
    const online = gt(n.lastHeartbeatAt, q.onlineSince);
    const conditions: (SQL | undefined)[] = [
      eq(n.state, "registered"),
      ...q.selector.map(termSql),
      q.online === undefined ? undefined : q.online ? online : or(isNull(n.lastHeartbeatAt), lte(n.lastHeartbeatAt, q.onlineSince)),
      q.reachable ? or(reachableSql(q.reachable), q.reachableIds?.length ? inArray(n.id, q.reachableIds) : undefined) : undefined,
      q.after ? or(gt(n.hostname, q.after.hostname), and(eq(n.hostname, q.after.hostname), gt(n.id, q.after.id))) : undefined,
    ];
    return this.db
      .select()
      .from(n)
      .where(and(...conditions))
      .orderBy(asc(n.hostname), asc(n.id))
      .limit(q.limit);
  }

  async reachedBy(ids: string[], maps: Record<string, string[]>[]): Promise<{ id: string; state: string; reached: boolean[] }[]> {
    if (ids.length === 0) return [];
    const reached = maps.length
      ? sql`array[${sql.join(
          maps.map((m) => reachableSql([m])),
          sql`, `,
        )}]::boolean[]`
      : sql`array[]::boolean[]`;
    return this.db
      .select({ id: n.id, state: n.state, reached: sql<boolean[]>`${reached}` })
      .from(n)
      .where(inArray(n.id, ids));
  }
}
