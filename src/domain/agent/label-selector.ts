import { invalidArgument } from "../errors.js";
import type { NodeQuery } from "../store/join-store.js";

export type LabelTerm = NodeQuery["selector"][number];

const KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;
const MAX_TERMS = 16;

/**
 * Parses "env=prod,team!=db,gpu,!legacy": comma-separated terms that must all hold. Keys follow
 * the label key rule; values are taken verbatim (trimmed) and may not contain a comma.
 */
export function parseLabelSelector(text: string): LabelTerm[] {
  if (!text.trim()) return [];
  const parts = text.split(",").map((p) => p.trim());
  if (parts.length > MAX_TERMS) throw invalidArgument("label_selector", `at most ${MAX_TERMS} terms`);
  return parts.map((part) => {
    const ne = part.indexOf("!=");
    const eq = part.indexOf("=");
    const term: LabelTerm =
      ne > 0
        ? { key: part.slice(0, ne).trim(), op: "ne", value: part.slice(ne + 2).trim() }
        : eq > 0
          ? {
              key: part.slice(0, eq).trim(),
              op: "eq",
              value: part
                .slice(eq + 1)
                .replace(/^=/, "")
                .trim(),
            }
          : part.startsWith("!")
            ? { key: part.slice(1).trim(), op: "missing" }
            : { key: part, op: "exists" };
    if (!KEY.test(term.key)) throw invalidArgument("label_selector", `"${part}" is not a term (key=value, key!=value, key or !key)`);
    return term;
  });
}

/** The effective labels of a node: the agent's, then the token's, then an admin's, later winning. */
export function effectiveLabels(layers: { agentLabels: Record<string, string>; tokenLabels: Record<string, string>; adminLabels: Record<string, string> }) {
  return { ...layers.agentLabels, ...layers.tokenLabels, ...layers.adminLabels };
}
