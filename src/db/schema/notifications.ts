import { sql } from "drizzle-orm";
import { boolean, check, index, integer, jsonb, pgTable, text, timestamp, unique, uuid } from "drizzle-orm/pg-core";

/**
 * Notification channels (NotificationService): webhooks told of access requests and locks.
 * The signing secret is sealed with the master key (it must be read back to sign).
 */
export const notificationChannels = pgTable(
  "notification_channels",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: text("name").notNull(),
    webhookUrl: text("webhook_url").notNull(),
    /** Event types it receives, e.g. "lock.create" (src/domain/notification/event-types.ts). */
    eventTypes: text("event_types").array().notNull(),
    disabled: boolean("disabled").notNull().default(false),
    /** The HMAC-SHA256 signing secret, sealed (AES-256-GCM under the master key). */
    secretSealed: text("secret_sealed").notNull(),
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [index("notification_channels_created_idx").on(t.createdAt, t.id)],
);

/**
 * The outbox: one row per event and channel, written in the transaction of the audit event it
 * tells of (a trigger on audit_events, migration 0027). Workers on every
 * instance claim due rows with FOR UPDATE SKIP LOCKED and a lease (next_attempt_at moved on).
 */
export const notificationDeliveries = pgTable(
  "notification_deliveries",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    channelId: uuid("channel_id")
      .notNull()
      .references(() => notificationChannels.id, { onDelete: "cascade" }),
    eventType: text("event_type").notNull(),
    /** What makes the event unique for the channel: "audit:<sequence>" of the audit event it tells of. */
    eventKey: text("event_key").notNull(),
    /** The body sent (less its "id", the delivery id): type, occurred_at, actor, target, details. */
    payload: jsonb("payload").notNull().$type<Record<string, unknown>>(),
    /** pending, delivered or failed (after the last attempt). */
    state: text("state").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true, mode: "date" }).notNull(),
    /** The last answer's HTTP status (null: none, e.g. a timeout) and a short excerpt of the error or body. */
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    finishedAt: timestamp("finished_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    check("notification_deliveries_state", sql`${t.state} in ('pending', 'delivered', 'failed')`),
    unique("notification_deliveries_event_unique").on(t.channelId, t.eventKey),
    index("notification_deliveries_due_idx")
      .on(t.nextAttemptAt)
      .where(sql`${t.state} = 'pending'`),
    index("notification_deliveries_finished_idx").on(t.finishedAt),
  ],
);

export type NotificationChannelRow = typeof notificationChannels.$inferSelect;
export type NotificationDeliveryRow = typeof notificationDeliveries.$inferSelect;
