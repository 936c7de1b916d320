import type { RoleRule } from "../records.js";
import type { Permission } from "./permissions.js";

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

/** What a caller's roles allow, decided from their rules together (a deny in any role wins). */
export class PermissionSet {
  static readonly NONE = new PermissionSet([]);

  constructor(private readonly rules: RoleRule[]) {}

  allows(p: Permission): boolean {
    return this.rules.length > 0 && evaluateRules(this.rules, p.resource, p.verb).allowed;
  }
}
