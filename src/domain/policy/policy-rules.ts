import { DomainError, invalidArgument } from "../errors.js";
import type { PolicyFields } from "../store/policy-store.js";
import type { CelCompiler } from "./cel-compiler.js";
import type { PolicyOutcomeKind } from "./policy-decision.js";

/** Policies an organization may hold (and the evaluator loads). */
export const MAX_POLICIES_PER_ORGANIZATION = 200;

export type PolicyLanguageKind = "cel" | "rego";

/** A policy as a request states it. */
export interface PolicyDraft {
  name: string;
  language: PolicyLanguageKind;
  source: string;
  outcome: PolicyOutcomeKind;
  message: string;
  priority: number;
  enabled: boolean;
}

/** Where an OPA decision path first goes wrong (0-based), or undefined when it is well formed. */
function regoPathError(path: string): { at: number; message: string } | undefined {
  const bad = path.search(/[^A-Za-z0-9_/]/);
  if (bad >= 0) return { at: bad, message: `'${path[bad]}' is not allowed in an OPA decision path` };
  const empty = path.split("/").findIndex((s) => s === "");
  if (empty >= 0) {
    const at = path.split("/").slice(0, empty).join("/").length + (empty > 0 ? 1 : 0);
    return { at: Math.min(at, path.length), message: "an OPA decision path has no empty segments" };
  }
  return undefined;
}

/**
 * A draft checked as it will be stored: a name, and a source that compiles (CEL: parsed,
 * type-checked, a bool, within the cost limit) or names an OPA decision path (Rego,
 * "warden/authz/deny": segments of [A-Za-z0-9_] separated by '/'). POLICY_INVALID otherwise.
 */
export function checkedDraft(draft: PolicyDraft, compiler: Pick<CelCompiler, "compile">): PolicyFields {
  const name = draft.name.trim();
  if (!name) throw invalidArgument("policy.name", "is required");
  if (draft.language === "cel") compiler.compile(draft.source);
  else {
    const problem = regoPathError(draft.source);
    if (problem) {
      const text = `line 1, column ${problem.at + 1}: ${problem.message} (segments of letters, digits and '_' separated by '/', e.g. "warden/authz/deny")`;
      throw new DomainError("invalid_argument", "POLICY_INVALID", text, { violations: [{ field: "policy.source", description: text }] });
    }
  }
  return {
    name,
    language: draft.language,
    source: draft.source,
    outcome: draft.outcome,
    message: draft.message,
    priority: draft.priority,
    enabled: draft.enabled,
  };
}
