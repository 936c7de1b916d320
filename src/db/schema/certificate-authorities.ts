import { sql } from "drizzle-orm";
import { check, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

/**
 * The cluster's SSH certificate authorities (Ed25519): one active user CA and one active host
 * CA; the private half is sealed with the master key, like the token signing keys.
 */
export const certificateAuthorities = pgTable(
  "certificate_authorities",
  {
    id: text("id").primaryKey(),
    /** "user" or "host". */
    kind: text("kind").notNull(),
    /** The OpenSSH public key line. */
    publicKey: text("public_key").notNull(),
    /** PKCS#8 PEM, sealed (SecretBox). */
    privateKeyEncrypted: text("private_key_encrypted").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    /** Set when a rotation retires it; it is trusted no more. */
    retiredAt: timestamp("retired_at", { withTimezone: true, mode: "date" }),
    /**
     * Set while this CA is the new one of a rotation: "init", "update_clients", "update_servers".
     * Null for the settled CA of its kind.
     */
    rotationPhase: text("rotation_phase"),
  },
  // One active CA of each kind: two instances creating one at once cannot both succeed.
  (t) => [
    uniqueIndex("certificate_authorities_active_kind")
      .on(t.kind)
      .where(sql`${t.retiredAt} is null`),
    check("certificate_authorities_kind", sql`${t.kind} in ('user', 'host')`),
  ],
);

export type CertificateAuthorityRow = typeof certificateAuthorities.$inferSelect;

/**
 * The cluster's X.509 CA (ECDSA P-256): it signs agents' mTLS client certificates and the
 * server's own certificate in the auto TLS mode. One active at a time.
 */
export const x509Authorities = pgTable(
  "x509_authorities",
  {
    id: text("id").primaryKey(),
    certificatePem: text("certificate_pem").notNull(),
    /** PKCS#8 PEM, sealed (SecretBox). */
    privateKeyEncrypted: text("private_key_encrypted").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    retiredAt: timestamp("retired_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    uniqueIndex("x509_authorities_active")
      .on(sql`(true)`)
      .where(sql`${t.retiredAt} is null`),
  ],
);

export type X509AuthorityRow = typeof x509Authorities.$inferSelect;
