import { sql } from "drizzle-orm";
import { check, index, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * Admin locks: while one holds (not deleted, not past its expiry) nothing it targets gets a
 * credential or a call. Every instance keeps the live ones in memory (LockRegistry).
 */
export const locks = pgTable(
  "locks",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** user, role, node, device, agent_identity or login. */
    targetKind: text("target_kind").notNull(),
    /** A user, device, node or identity id, a role name, a hostname or a login. */
    targetValue: text("target_value").notNull(),
    message: text("message").notNull().default(""),
    /** Null: until deleted. */
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }),
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [
    check("locks_target_kind", sql`${t.targetKind} in ('user', 'role', 'node', 'device', 'agent_identity', 'login')`),
    index("locks_created_idx").on(t.createdAt, t.id),
  ],
);

export type LockRow = typeof locks.$inferSelect;
