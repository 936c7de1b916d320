import { bigint, index, integer, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { users } from "./users.js";

/** Second factors: TOTP authenticators and phones; the secret (or number) is sealed with the master key. */
export const mfaFactors = pgTable(
  "mfa_factors",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    type: text("type").notNull(),
    secretEncrypted: text("secret_encrypted").notNull(),
    confirmedAt: timestamp("confirmed_at", { withTimezone: true, mode: "date" }),
    // The highest 30-second step accepted so far: a code is accepted once, and never an older one.
    lastUsedStep: bigint("last_used_step", { mode: "number" }).notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true, mode: "date" }),
    // Phone enrollment: the keyed hash of the code sent, until confirmed.
    pendingCodeHash: text("pending_code_hash"),
    pendingCodeExpiresAt: timestamp("pending_code_expires_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [index("mfa_factors_user_idx").on(t.userId)],
);

/** Single-use recovery codes, stored as keyed hashes. */
export const recoveryCodes = pgTable(
  "recovery_codes",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    codeHash: text("code_hash").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [index("recovery_codes_user_idx").on(t.userId)],
);

/** A first factor that succeeded and waits for the second (VerifyMFA). */
export const mfaChallenges = pgTable(
  "mfa_challenges",
  {
    id: text("id").primaryKey(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    authMethod: text("auth_method").notNull(),
    clientIp: text("client_ip").notNull(),
    userAgent: text("user_agent").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true, mode: "date" }),
    failedAttempts: integer("failed_attempts").notNull().default(0),
    // Phone OTP sent for this challenge: keyed hash, expiry, where it went.
    phoneCodeHash: text("phone_code_hash"),
    phoneCodeExpiresAt: timestamp("phone_code_expires_at", { withTimezone: true, mode: "date" }),
    phone: text("phone"),
    // The device proved at the first factor; the session VerifyMFA opens is bound to it.
    deviceId: uuid("device_id"),
  },
  (t) => [index("mfa_challenges_user_idx").on(t.userId)],
);

export type MfaFactorRow = typeof mfaFactors.$inferSelect;
export type MfaChallengeRow = typeof mfaChallenges.$inferSelect;
