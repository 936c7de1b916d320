import type { ClusterConfigRow } from "../records.js";

export interface ClusterConfigStore {
  /** The one row, if UpdateClusterConfig ever ran. */
  get(): Promise<ClusterConfigRow | undefined>;
  /** Writes the row; the caller merged the overrides (in a transaction, after lockForUpdate). */
  put(row: ClusterConfigRow): Promise<void>;
  /** Serializes concurrent updates (a row lock, or an advisory lock when there is no row yet). */
  lockForUpdate(): Promise<void>;
}
