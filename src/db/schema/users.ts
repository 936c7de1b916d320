import { sql } from "drizzle-orm";
import { boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    // Stored lower-cased; the unique index is on this normalized form.
    email: text("email").notNull(),
    displayName: text("display_name").notNull().default(""),
    passwordHash: text("password_hash"),
    roles: text("roles")
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    disabled: boolean("disabled").notNull().default(false),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    passwordChangedAt: timestamp("password_changed_at", { withTimezone: true, mode: "date" }),
    // When the user proved they receive mail at `email` (a code or link, a verifying identity
    // provider, or an administrator who created the account); null until then.
    emailVerifiedAt: timestamp("email_verified_at", { withTimezone: true, mode: "date" }),
    deletedAt: timestamp("deleted_at", { withTimezone: true, mode: "date" }),
    // A second sign-in name for mail clients (the backchannel): lower-cased, no "@", unique.
    loginAlias: text("login_alias"),
    // Traits: name -> values, for role templates such as {{internal.logins}} (SSH logins).
    traits: jsonb("traits").notNull().default({}).$type<Record<string, string[]>>(),
  },
  (t) => [uniqueIndex("users_email_key").on(t.email), uniqueIndex("users_login_alias_key").on(t.loginAlias), index("users_created_idx").on(t.createdAt, t.id)],
);

/** The pending proof of an address: a six-digit code and a link token, stored as keyed hashes. */
export const emailVerifications = pgTable(
  "email_verifications",
  {
    userId: uuid("user_id")
      .primaryKey()
      .references(() => users.id, { onDelete: "cascade" }),
    // The address the code went to: a changed email needs a new proof.
    email: text("email").notNull(),
    codeHash: text("code_hash").notNull(),
    linkTokenHash: text("link_token_hash").notNull(),
    failedAttempts: integer("failed_attempts").notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [uniqueIndex("email_verifications_link_token_key").on(t.linkTokenHash)],
);

/**
 * The networks (/24, /64) each user signed in from. While an account is under attack (its
 * overall failure budget spent), only these may still try a password.
 */
export const knownNetworks = pgTable(
  "known_networks",
  {
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    network: text("network").notNull(),
    lastSignInAt: timestamp("last_sign_in_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.network] })],
);

export type UserRow = typeof users.$inferSelect;
export type EmailVerificationRow = typeof emailVerifications.$inferSelect;
