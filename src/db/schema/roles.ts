import { boolean, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

export interface RoleRule {
  resources: string[];
  verbs: string[];
  effect: "allow" | "deny";
}

export const roles = pgTable("roles", {
  name: text("name").primaryKey(),
  description: text("description").notNull().default(""),
  rules: jsonb("rules").notNull().$type<RoleRule[]>(),
  builtin: boolean("builtin").notNull().default(false),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull(),
});

export type RoleRow = typeof roles.$inferSelect;
