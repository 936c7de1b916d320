import { index, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { nodes } from "./nodes.js";

/**
 * The SSH sessions each node's agent reported in its last heartbeat (each one replaces the
 * node's set). A revoked one keeps its row, marked, until the agent stops reporting it.
 */
export const sshSessions = pgTable(
  "ssh_sessions",
  {
    nodeId: uuid("node_id")
      .notNull()
      .references(() => nodes.id, { onDelete: "cascade" }),
    /** The agent's id for it. */
    sessionId: text("session_id").notNull(),
    /** As reported: a user id or a certificate key id. */
    user: text("user_name").notNull(),
    /** The Warden user it names, if it names one. */
    userId: uuid("user_id"),
    login: text("login").notNull(),
    startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }).notNull(),
    remoteAddress: text("remote_address").notNull().default(""),
    /** Revoked: every heartbeat reply lists it until the agent stops reporting it. */
    terminateRequestedAt: timestamp("terminate_requested_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [primaryKey({ columns: [t.nodeId, t.sessionId] }), index("ssh_sessions_user_idx").on(t.userId), index("ssh_sessions_started_idx").on(t.startedAt)],
);

export type SshSessionRow = typeof sshSessions.$inferSelect;
