import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

/** Admin-made tokens that let nodes join; only the secret's SHA-256 is kept. */
export const joinTokens = pgTable(
  "join_tokens",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    tokenHash: text("token_hash").notNull(),
    roles: jsonb("roles").notNull().$type<string[]>(),
    uses: integer("uses").notNull(),
    usesRemaining: integer("uses_remaining").notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
    labels: jsonb("labels").notNull().default({}).$type<Record<string, string>>(),
    /** "token" or "iam". */
    joinMethod: text("join_method").notNull(),
    /** IAM rules: [{ awsAccount, awsArn }]. */
    allow: jsonb("allow").notNull().default([]).$type<{ awsAccount: string; awsArn: string }[]>(),
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [
    uniqueIndex("join_tokens_hash_key").on(t.tokenHash),
    // The database itself refuses a use past the last: the decrement cannot go below zero.
    check("join_tokens_uses_remaining", sql`${t.usesRemaining} >= 0 and ${t.usesRemaining} <= ${t.uses}`),
    index("join_tokens_created_idx").on(t.createdAt, t.id),
  ],
);

/**
 * Nodes (agents). A row starts "pending" when GenerateHostCerts binds a host key to a join
 * token, becomes "registered" when RegisterAgent commits it (and spends a use), and
 * "deregistered" when the agent leaves. Labels come in three layers, later ones winning:
 * the agent's, the join token's, an admin's.
 */
export const nodes = pgTable(
  "nodes",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    state: text("state").notNull(),
    joinTokenId: uuid("join_token_id").references(() => joinTokens.id, { onDelete: "set null" }),
    joinMethod: text("join_method").notNull(),
    roles: jsonb("roles").notNull().$type<string[]>(),
    hostname: text("hostname").notNull(),
    /** As the agent last reported them (heartbeats may change them). */
    addresses: jsonb("addresses").notNull().default([]).$type<string[]>(),
    /**
     * The addresses its host certificate names: those given when it was certified or joined.
     * Heartbeats never widen them, so a node cannot certify itself for another host's address.
     */
    certifiedAddresses: jsonb("certified_addresses").notNull().default([]).$type<string[]>(),
    /** SHA256:... of the certified host key; null for a node that joined without one. */
    hostKeyFingerprint: text("host_key_fingerprint"),
    agentLabels: jsonb("agent_labels").notNull().default({}).$type<Record<string, string>>(),
    tokenLabels: jsonb("token_labels").notNull().default({}).$type<Record<string, string>>(),
    adminLabels: jsonb("admin_labels").notNull().default({}).$type<Record<string, string>>(),
    version: text("version").notNull().default(""),
    /** SHA-256 of the agent token; set at registration. */
    agentTokenHash: text("agent_token_hash"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    registeredAt: timestamp("registered_at", { withTimezone: true, mode: "date" }),
    lastHeartbeatAt: timestamp("last_heartbeat_at", { withTimezone: true, mode: "date" }),
    deregisteredAt: timestamp("deregistered_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    check("nodes_state", sql`${t.state} in ('pending', 'registered', 'deregistered')`),
    // One binding per host key and token: GenerateHostCerts again with the same key reuses it.
    uniqueIndex("nodes_token_host_key")
      .on(t.joinTokenId, t.hostKeyFingerprint)
      .where(sql`${t.state} = 'pending'`),
    uniqueIndex("nodes_agent_token_hash_key").on(t.agentTokenHash),
    index("nodes_listing_idx").on(t.hostname, t.id),
  ],
);

export type JoinTokenRow = typeof joinTokens.$inferSelect;
export type NodeRow = typeof nodes.$inferSelect;
