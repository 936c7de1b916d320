import type { AccessRequestRow } from "../records.js";

export type AccessRequestState = "pending" | "approved" | "denied" | "cancelled" | "expired";

/** Which requests a list shows besides the caller's own. */
export interface AccessRequestScope {
  /** Every request (access_request/list). */
  all: boolean;
  /** The caller's own. */
  userId: string;
  /** Requests every role of which is among these (the caller's review_roles)... */
  reviewable: string[];
  /** ...and every node of which one of these maps (those roles' node_labels) reaches. */
  reviewableNodeLabels: Record<string, string[]>[];
}

export interface AccessRequestStore {
  create(row: Omit<AccessRequestRow, "id">): Promise<AccessRequestRow>;
  find(id: string): Promise<AccessRequestRow | undefined>;
  /** The row locked to the end of the transaction (SELECT ... FOR UPDATE): one review at a time. */
  findForUpdate(id: string): Promise<AccessRequestRow | undefined>;
  update(id: string, set: Partial<Omit<AccessRequestRow, "id">>): Promise<AccessRequestRow>;
  /**
   * Newest first, keyset-paginated. `state` is the effective state at `now`: a pending request
   * past pending_expires_at and an approved one past access_expires_at count as expired.
   */
  list(limit: number, scope: AccessRequestScope, now: Date, after?: { createdAt: Date; id: string }, state?: AccessRequestState): Promise<AccessRequestRow[]>;
  /** The user's requests still pending at `now`. */
  countPending(userId: string, now: Date): Promise<number>;
  /** Approved requests whose access lasts past `now`: what every instance holds in memory. */
  granting(now: Date): Promise<AccessRequestRow[]>;
  /**
   * Marks expired (at most `limit` of) the approved requests whose access ended by `now` and the
   * pending ones that lapsed, and returns them as they were: one conditional UPDATE, so of
   * instances sweeping at once each row is taken by one.
   */
  expireLapsed(now: Date, limit: number): Promise<AccessRequestRow[]>;
}
