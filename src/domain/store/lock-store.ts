import type { LockRow } from "../records.js";

export type LockTargetKind = "user" | "role" | "node" | "device" | "agent_identity" | "login";

export interface LockStore {
  create(row: Omit<LockRow, "id">): Promise<LockRow>;
  /** Newest first, keyset-paginated; `limit` rows at most; only `kind` when given. */
  list(limit: number, after?: { createdAt: Date; id: string }, kind?: LockTargetKind): Promise<LockRow[]>;
  delete(id: string): Promise<LockRow | undefined>;
  /** Locks with no expiry or one after `now`: what every instance holds in memory. */
  active(now: Date): Promise<LockRow[]>;
}
