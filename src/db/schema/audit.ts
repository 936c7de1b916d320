import { bigint, bigserial, index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/** Append-only (a trigger refuses UPDATE and DELETE) and hash-chained by sequence. */
export const auditEvents = pgTable(
  "audit_events",
  {
    sequence: bigserial("sequence", { mode: "number" }).primaryKey(),
    id: uuid("id").notNull().defaultRandom(),
    occurredAt: timestamp("occurred_at", { withTimezone: true, mode: "date" }).notNull(),
    eventType: text("event_type").notNull(),
    outcome: text("outcome").notNull(),
    actorType: text("actor_type").notNull(),
    actorId: text("actor_id").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id").notNull(),
    clientIp: text("client_ip").notNull(),
    requestId: text("request_id").notNull(),
    details: jsonb("details").notNull().$type<Record<string, string>>(),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (t) => [index("audit_events_time_idx").on(t.occurredAt), index("audit_events_actor_idx").on(t.actorId)],
);

export type AuditRow = typeof auditEvents.$inferSelect;

/** One row (id = 1): the newest link of the chain. Its row lock orders writers, and it
 *  lets verification notice rows removed from the end. */
export const auditChainHead = pgTable("audit_chain_head", {
  id: integer("id").primaryKey(),
  sequence: bigint("sequence", { mode: "number" }).notNull(),
  hash: text("hash").notNull(),
});
