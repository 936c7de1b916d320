import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/** One reviewer's decision on an access request. */
export interface AccessReviewEntry {
  reviewerId: string;
  decision: "approve" | "deny";
  reason: string;
  at: string;
}

/**
 * Access requests (AccessRequestService): a user asks for roles or nodes for a while. An approved
 * one grants them until access_expires_at; every instance keeps those in memory (AccessGrants).
 */
export const accessRequests = pgTable(
  "access_requests",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id").notNull(),
    roles: text("roles").array().notNull(),
    /** Nodes asked for by id (besides or instead of roles): an approved request makes them reachable. */
    nodeIds: uuid("node_ids")
      .array()
      .notNull()
      .default(sql`'{}'::uuid[]`),
    reason: text("reason").notNull(),
    /** Null: the cap of the roles. */
    requestedTtlSeconds: integer("requested_ttl_seconds"),
    /** pending, approved, denied, cancelled or expired (pending and approved also lapse by their times). */
    state: text("state").notNull(),
    approvalsRequired: integer("approvals_required").notNull(),
    reviews: jsonb("reviews").notNull().default([]).$type<AccessReviewEntry[]>(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull(),
    pendingExpiresAt: timestamp("pending_expires_at", { withTimezone: true, mode: "date" }).notNull(),
    accessExpiresAt: timestamp("access_expires_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    check("access_requests_state", sql`${t.state} in ('pending', 'approved', 'denied', 'cancelled', 'expired')`),
    check("access_requests_asks", sql`cardinality(${t.roles}) + cardinality(${t.nodeIds}) > 0`),
    index("access_requests_created_idx").on(t.createdAt, t.id),
    index("access_requests_user_idx").on(t.userId, t.createdAt),
    index("access_requests_approved_idx")
      .on(t.accessExpiresAt)
      .where(sql`${t.state} = 'approved'`),
  ],
);

export type AccessRequestRow = typeof accessRequests.$inferSelect;
