import { sql } from "drizzle-orm";
import { bigint, boolean, check, customType, index, pgTable, primaryKey, text, timestamp, unique, uuid } from "drizzle-orm/pg-core";
import { nodes } from "./nodes.js";

/**
 * bytea as bytes: postgres.js hands back a Buffer, PGlite a Uint8Array; both are Uint8Arrays.
 * postgres.js sends a bytes parameter of a bytea column in binary (scripts/patch-postgres-driver.mjs;
 * unpatched it went as hex text, twice the size).
 */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
  toDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)),
  fromDriver: (v) => v,
});

/**
 * SSH session recordings an agent sent for its node: one row per session, its bytes in
 * recording_chunks. `size_bytes` is how much is stored (the next offset expected); the row is
 * complete only once the agent's SHA-256 matched those bytes, and is never written after.
 */
export const sessionRecordings = pgTable(
  "session_recordings",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    nodeId: uuid("node_id")
      .notNull()
      .references(() => nodes.id, { onDelete: "cascade" }),
    /** The agent's session id, unique on its node. */
    sessionId: text("session_id").notNull(),
    /** As the agent named them: a user id or email. */
    user: text("user_name").notNull(),
    login: text("login").notNull(),
    startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }).notNull(),
    endedAt: timestamp("ended_at", { withTimezone: true, mode: "date" }),
    sizeBytes: bigint("size_bytes", { mode: "number" }).notNull().default(0),
    /** Of the whole recording; set at completion. */
    sha256: bytea("sha256"),
    complete: boolean("complete").notNull().default(false),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [
    unique("session_recordings_node_session_key").on(t.nodeId, t.sessionId),
    index("session_recordings_started_idx").on(t.startedAt, t.id),
    index("session_recordings_user_idx").on(t.user),
    check("session_recordings_size", sql`${t.sizeBytes} >= 0`),
    check("session_recordings_complete_sha", sql`not ${t.complete} or ${t.sha256} is not null`),
  ],
);

/** A recording's bytes, one row per chunk as it arrived, keyed by where it starts. */
export const recordingChunks = pgTable(
  "recording_chunks",
  {
    recordingId: uuid("recording_id")
      .notNull()
      .references(() => sessionRecordings.id, { onDelete: "cascade" }),
    offset: bigint("offset", { mode: "number" }).notNull(),
    data: bytea("data").notNull(),
  },
  (t) => [primaryKey({ columns: [t.recordingId, t.offset] })],
);

export type SessionRecordingRow = typeof sessionRecordings.$inferSelect;
