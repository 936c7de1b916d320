import type { RoleRule } from "../../db/schema/index.js";

const matches = (patterns: string[], value: string) => patterns.includes("*") || patterns.includes(value);

/** Allowed when some rule allows and no rule denies: a matching deny always wins. */
export function evaluateRules(rules: RoleRule[], resource: string, verb: string): { allowed: boolean; deniedBy?: RoleRule } {
  let allowed = false;
  for (const rule of rules) {
    if (!matches(rule.resources, resource) || !matches(rule.verbs, verb)) continue;
    if (rule.effect === "deny") return { allowed: false, deniedBy: rule };
    allowed = true;
  }
  return { allowed };
}
