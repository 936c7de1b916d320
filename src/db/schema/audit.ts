import { bigint, bigserial, index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/** Append-only (a trigger refuses UPDATE and DELETE) and chained by sequence with keyed links. */
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
    // The key of this link's HMAC ("v1", "v2", ...), or "legacy" for the plain SHA-256 links
    // written before the chain was keyed (migration 0009).
    keyId: text("key_id").notNull(),
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

/**
 * Signed checkpoints of the chain head (append-only like the events): `jws` is a compact JWS
 * by the token signing key over {n, seq, hash, iat}; the other columns repeat its payload for
 * reading, and verification trusts only the signed payload.
 */
export const auditCheckpoints = pgTable("audit_checkpoints", {
  number: bigint("number", { mode: "number" }).primaryKey(),
  sequence: bigint("sequence", { mode: "number" }).notNull(),
  hash: text("hash").notNull(),
  kid: text("kid").notNull(),
  signedAt: timestamp("signed_at", { withTimezone: true, mode: "date" }).notNull(),
  jws: text("jws").notNull(),
});

export type AuditCheckpointRow = typeof auditCheckpoints.$inferSelect;

/**
 * Archived prefixes of the chain (ArchiveAuditEvents), numbered 1, 2, 3, ...; append-only like
 * the events. The newest row is where the live chain starts: its first event links to
 * head_hash. Each row is vouched for by the "audit.archive" event (a keyed link) written in the
 * transaction that deleted the archived events, which repeats these columns.
 */
export const auditArchives = pgTable("audit_archives", {
  number: bigint("number", { mode: "number" }).primaryKey(),
  firstSequence: bigint("first_sequence", { mode: "number" }).notNull(),
  headSequence: bigint("head_sequence", { mode: "number" }).notNull(),
  headHash: text("head_hash").notNull(),
  headKeyId: text("head_key_id").notNull(),
  eventCount: bigint("event_count", { mode: "number" }).notNull(),
  sha256: text("sha256").notNull(),
  archivedAt: timestamp("archived_at", { withTimezone: true, mode: "date" }).notNull(),
});

export type AuditArchiveRow = typeof auditArchives.$inferSelect;
