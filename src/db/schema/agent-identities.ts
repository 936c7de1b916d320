import { sql } from "drizzle-orm";
import { check, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

/** Machine identities (bots): roles, and a generation that counts renewals. */
export const agentIdentities = pgTable(
  "agent_identities",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    roles: jsonb("roles").notNull().$type<string[]>(),
    certTtlSeconds: integer("cert_ttl_seconds").notNull(),
    /** Renewals so far; the current renewal token belongs to this generation. */
    generation: integer("generation").notNull().default(0),
    bootstrappedAt: timestamp("bootstrapped_at", { withTimezone: true, mode: "date" }),
    lastRenewedAt: timestamp("last_renewed_at", { withTimezone: true, mode: "date" }),
    lockedAt: timestamp("locked_at", { withTimezone: true, mode: "date" }),
    lockReason: text("lock_reason"),
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [uniqueIndex("agent_identities_name_key").on(t.name), index("agent_identities_created_idx").on(t.createdAt, t.id)],
);

/**
 * An identity's bootstrap and renewal tokens, by SHA-256. A used token is kept (used_at set), so
 * that presenting it again is recognised as reuse rather than as an unknown token.
 */
export const agentIdentityTokens = pgTable(
  "agent_identity_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    identityId: uuid("identity_id")
      .notNull()
      .references(() => agentIdentities.id, { onDelete: "cascade" }),
    /** "bootstrap" or "renewal". */
    kind: text("kind").notNull(),
    generation: integer("generation").notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true, mode: "date" }),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [check("agent_identity_tokens_kind", sql`${t.kind} in ('bootstrap', 'renewal')`), index("agent_identity_tokens_identity_idx").on(t.identityId)],
);

/** Single-use challenges of public join calls that prove a key (AuthenticateSPIFFE). */
export const joinChallenges = pgTable("join_challenges", {
  /** SHA-256 of the challenge id. */
  id: text("id").primaryKey(),
  purpose: text("purpose").notNull(),
  payload: text("payload").notNull(),
  /** What the challenge was issued for (e.g. the SVID's SHA-256), checked when it is answered. */
  subject: text("subject").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
  usedAt: timestamp("used_at", { withTimezone: true, mode: "date" }),
});

export type AgentIdentityRow = typeof agentIdentities.$inferSelect;
export type AgentIdentityTokenRow = typeof agentIdentityTokens.$inferSelect;
export type JoinChallengeRow = typeof joinChallenges.$inferSelect;
