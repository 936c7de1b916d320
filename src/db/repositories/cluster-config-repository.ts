import { eq, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { clusterConfig, type ClusterConfigRow } from "../schema/index.js";
import type { ClusterConfigStore } from "../../domain/store/cluster-config-store.js";

/** Advisory lock of cluster config writers (other features use 7345002 and 7345003). */
const CLUSTER_CONFIG_LOCK = 7_345_004;

export class ClusterConfigRepository implements ClusterConfigStore {
  constructor(private readonly db: DbOrTx) {}

  async get(): Promise<ClusterConfigRow | undefined> {
    const [row] = await this.db.select().from(clusterConfig).where(eq(clusterConfig.id, 1));
    return row;
  }

  async put(row: ClusterConfigRow): Promise<void> {
    await this.db
      .insert(clusterConfig)
      .values(row)
      .onConflictDoUpdate({ target: clusterConfig.id, set: { overrides: row.overrides, updatedAt: row.updatedAt, updatedBy: row.updatedBy } });
  }

  async lockForUpdate(): Promise<void> {
    await this.db.execute(sql`select pg_advisory_xact_lock(${CLUSTER_CONFIG_LOCK})`);
  }
}
