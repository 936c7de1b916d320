import { index, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { users } from "./users.js";

export const sessions = pgTable(
  "sessions",
  {
    // Public handle (hex); never a credential by itself.
    id: text("id").primaryKey(),
    // SHA-256 of the session secret; `wds_<id>.<secret>` is the session's bearer form.
    secretHash: text("secret_hash").notNull(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    authMethod: text("auth_method").notNull(),
    clientIp: text("client_ip").notNull().default(""),
    userAgent: text("user_agent").notNull().default(""),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    lastSeenAt: timestamp("last_seen_at", { withTimezone: true, mode: "date" }).notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
    revokeReason: text("revoke_reason"),
    mfaAt: timestamp("mfa_at", { withTimezone: true, mode: "date" }),
    // The device whose signature opened the session; every refresh needs a new one.
    deviceId: uuid("device_id"),
  },
  (t) => [index("sessions_user_idx").on(t.userId, t.createdAt), index("sessions_device_idx").on(t.deviceId)],
);

/** Every refresh token a session was given, by SHA-256; a used one proves reuse. */
export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    generation: integer("generation").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true, mode: "date" }),
    // Who used it (a hash of address and user agent), and the token issued in its place, sealed
    // with the master key: the same client retrying within the grace window gets that one again.
    usedBy: text("used_by"),
    successorSealed: text("successor_sealed"),
  },
  (t) => [index("refresh_tokens_session_idx").on(t.sessionId)],
);

export type SessionRow = typeof sessions.$inferSelect;
