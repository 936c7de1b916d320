import { jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/** Access-token signing keys; the private half is encrypted with the master key. */
export const signingKeys = pgTable("signing_keys", {
  kid: text("kid").primaryKey(),
  algorithm: text("algorithm").notNull(),
  publicJwk: jsonb("public_jwk").notNull().$type<Record<string, unknown>>(),
  privateKeyEncrypted: text("private_key_encrypted").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  // Set when a newer key takes over signing; the key still verifies until verifyUntil.
  retiredAt: timestamp("retired_at", { withTimezone: true, mode: "date" }),
  verifyUntil: timestamp("verify_until", { withTimezone: true, mode: "date" }),
});

export type SigningKeyRow = typeof signingKeys.$inferSelect;
