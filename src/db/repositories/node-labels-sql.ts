import { sql, type SQL } from "drizzle-orm";
import { nodes } from "../schema/index.js";

const n = nodes;

/** The effective labels: the agent's, then the token's, then an admin's (jsonb || keeps the right-hand value). */
export const effective = sql`(${n.agentLabels} || ${n.tokenLabels} || ${n.adminLabels})`;

/**
 * Whether a node (a row of `nodes` in the query) matches any of the roles' node_labels: a map
 * matches when every key's value is allowed ("*" key: any node; "*" value: any value, label
 * present). Shared by node listing, access requests for nodes and recording reads, so that they
 * agree on what a role reaches.
 */
export function reachableSql(maps: Record<string, string[]>[]): SQL {
  const perRole = maps.map((labels) => {
    const entries = Object.entries(labels);
    if (entries.length === 0) return sql`false`;
    const terms = entries.map(([key, values]) => {
      if (key === "*") return values.includes("*") ? sql`true` : sql`false`;
      if (values.includes("*")) return sql`jsonb_exists(${effective}, ${key})`;
      return values.length
        ? sql`(${effective} ->> ${key}) in (${sql.join(
            values.map((v) => sql`${v}`),
            sql`, `,
          )})`
        : sql`false`;
    });
    return sql`(${sql.join(terms, sql` and `)})`;
  });
  return perRole.length ? sql`(${sql.join(perRole, sql` or `)})` : sql`false`;
}
