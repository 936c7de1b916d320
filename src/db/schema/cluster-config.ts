import { check, integer, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";
import { sql } from "drizzle-orm";

/**
 * The cluster-wide settings UpdateClusterConfig changed, over the settings file's values: one
 * row (id 1). `overrides` holds only the fields that were set, by their setting names.
 */
export const clusterConfig = pgTable(
  "cluster_config",
  {
    id: integer("id").primaryKey(),
    overrides: jsonb("overrides").notNull().$type<Record<string, number | string>>(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull(),
    updatedBy: text("updated_by").notNull(),
  },
  (t) => [check("cluster_config_one_row", sql`${t.id} = 1`)],
);

export type ClusterConfigRow = typeof clusterConfig.$inferSelect;
