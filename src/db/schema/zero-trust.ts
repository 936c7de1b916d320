import { sql } from "drizzle-orm";
import { bigint, bigserial, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { organizations } from "./organizations.js";
import { users } from "./users.js";

/** A user's device in one organization, known by its public key. */
export const devices = pgTable(
  "devices",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    organizationId: uuid("organization_id")
      .notNull()
      .references(() => organizations.id),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    platform: text("platform").notNull().default(""),
    // "ed25519" or "p256"; the key as PEM SubjectPublicKeyInfo and its SHA-256 (hex, of the DER).
    keyType: text("key_type").notNull(),
    publicKey: text("public_key").notNull(),
    keyFingerprint: text("key_fingerprint").notNull(),
    trusted: boolean("trusted").notNull().default(false),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    lastSeenAt: timestamp("last_seen_at", { withTimezone: true, mode: "date" }),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
    // Posture, from the device's last "posture" telemetry event.
    postureOs: text("posture_os"),
    postureOsVersion: text("posture_os_version"),
    postureDiskEncrypted: boolean("posture_disk_encrypted"),
    postureScreenLock: boolean("posture_screen_lock"),
    postureAgentVersion: text("posture_agent_version"),
    postureAt: timestamp("posture_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    // One live registration per key in an organization.
    uniqueIndex("devices_org_key_live_key")
      .on(t.organizationId, t.keyFingerprint)
      .where(sql`revoked_at IS NULL`),
    index("devices_org_user_idx").on(t.organizationId, t.userId, t.createdAt),
  ],
);

/** Single-use challenges a device signs: registration, device-bound sign-in and refresh. */
export const deviceChallenges = pgTable(
  "device_challenges",
  {
    // SHA-256 of the challenge id; the id alone is no credential, but it is single-use.
    id: text("id").primaryKey(),
    purpose: text("purpose").notNull(),
    // For registration: the key fingerprint, user and organization; otherwise the device.
    deviceId: uuid("device_id"),
    keyFingerprint: text("key_fingerprint"),
    userId: uuid("user_id"),
    organizationId: uuid("organization_id"),
    payload: text("payload").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
    usedAt: timestamp("used_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [index("device_challenges_expires_idx").on(t.expiresAt)],
);

/** An organization's access policies (CEL expressions, or OPA decision paths for Rego). */
export const accessPolicies = pgTable(
  "access_policies",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    organizationId: uuid("organization_id")
      .notNull()
      .references(() => organizations.id),
    name: text("name").notNull(),
    language: text("language").notNull(),
    source: text("source").notNull(),
    outcome: text("outcome").notNull(),
    message: text("message").notNull().default(""),
    priority: integer("priority").notNull().default(0),
    enabled: boolean("enabled").notNull().default(true),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [uniqueIndex("access_policies_org_name_key").on(t.organizationId, t.name), index("access_policies_org_idx").on(t.organizationId, t.priority)],
);

/** One row per organization that changed its zero-trust settings; sections as JSON. */
export const orgPolicyConfigs = pgTable("org_policy_configs", {
  organizationId: uuid("organization_id")
    .primaryKey()
    .references(() => organizations.id),
  mfa: jsonb("mfa").notNull(),
  device: jsonb("device").notNull(),
  session: jsonb("session").notNull(),
  accessControl: jsonb("access_control").notNull(),
  defaultPolicyOutcome: text("default_policy_outcome").notNull().default("allow"),
  version: bigint("version", { mode: "number" }).notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull(),
});

/**
 * Telemetry events. On PostgreSQL (and PGlite) the migration makes this table partitioned by
 * range of `occurred_at`, one partition a day, so retention drops whole partitions; the primary
 * key includes the partition key, as PostgreSQL requires.
 */
export const telemetryEvents = pgTable(
  "telemetry_events",
  {
    id: bigserial("id", { mode: "number" }).notNull(),
    occurredAt: timestamp("occurred_at", { withTimezone: true, mode: "date" }).notNull(),
    receivedAt: timestamp("received_at", { withTimezone: true, mode: "date" }).notNull(),
    organizationId: uuid("organization_id").notNull(),
    userId: uuid("user_id"),
    serviceAccountId: uuid("service_account_id"),
    deviceId: uuid("device_id"),
    type: text("type").notNull(),
    attributes: jsonb("attributes"),
  },
  (t) => [primaryKey({ columns: [t.occurredAt, t.id] }), index("telemetry_events_org_idx").on(t.organizationId, t.occurredAt)],
);

export type DeviceRow = typeof devices.$inferSelect;
export type DeviceChallengeRow = typeof deviceChallenges.$inferSelect;
export type AccessPolicyRow = typeof accessPolicies.$inferSelect;
export type OrgPolicyConfigRow = typeof orgPolicyConfigs.$inferSelect;
export type TelemetryEventRow = typeof telemetryEvents.$inferSelect;
