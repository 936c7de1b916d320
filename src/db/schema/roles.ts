import { boolean, integer, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

export interface RoleRule {
  resources: string[];
  verbs: string[];
  effect: "allow" | "deny";
}

/** The certificate extensions a role permits (AuthService/IssueUserCerts). */
export interface SshPermissionFlags {
  permitPty?: boolean;
  permitPortForwarding?: boolean;
  permitAgentForwarding?: boolean;
  permitX11Forwarding?: boolean;
  permitUserRc?: boolean;
}

export const roles = pgTable("roles", {
  name: text("name").primaryKey(),
  description: text("description").notNull().default(""),
  rules: jsonb("rules").notNull().$type<RoleRule[]>(),
  builtin: boolean("builtin").notNull().default(false),
  // SSH access: certificate principals, which nodes (label -> values), a TTL cap, extensions.
  logins: text("logins").array().notNull().default([]),
  nodeLabels: jsonb("node_labels").notNull().default({}).$type<Record<string, string[]>>(),
  maxSessionTtlSeconds: integer("max_session_ttl_seconds"),
  sshPermissions: jsonb("ssh_permissions").notNull().default({}).$type<SshPermissionFlags>(),
  // Access requests: the roles holders may request and review; approvals a request for this role needs.
  requestRoles: text("request_roles").array().notNull().default([]),
  reviewRoles: text("review_roles").array().notNull().default([]),
  approvalsRequired: integer("approvals_required").notNull().default(1),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull(),
});

export type RoleRow = typeof roles.$inferSelect;
