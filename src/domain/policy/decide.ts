import type { PolicyDecision, PolicyOutcomeKind } from "./policy-decision.js";

/** What the decision needs of a policy. */
export interface PolicyHead {
  id: string;
  name: string;
  outcome: PolicyOutcomeKind;
  message: string;
  priority: number;
  enabled: boolean;
}

/**
 * One policy's condition for one input: true, false, failed at run time (error), the OPA
 * server not answering usably (opa_unavailable), or not evaluated because a higher policy
 * already denied (skipped).
 */
export type Verdict = { kind: "true" } | { kind: "false" } | { kind: "skipped" } | { kind: "error"; error: string } | { kind: "opa_unavailable" };

export interface Evaluated {
  policy: PolicyHead;
  verdict: Verdict;
}

const DEFAULT_MESSAGES: Record<PolicyOutcomeKind, string> = {
  allow: "",
  deny: "access denied by the organization's policy",
  require_mfa: "a second factor is required by the organization's policy",
};
const ORGANIZATION_DEFAULT_MESSAGES: Record<PolicyOutcomeKind, string> = {
  allow: "",
  deny: "no policy allows this, and the organization denies by default",
  require_mfa: "the organization requires a second factor by default",
};
const FAILED_MESSAGE = "the policy could not be evaluated, so access is denied";

/** Evaluation order: priority, highest first, then name. */
export function byPriority(a: PolicyHead, b: PolicyHead): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Whether a verdict denies whatever the policy's outcome: a true DENY, or a failure (fail closed). */
export function deniesBy(e: Evaluated): boolean {
  const v = e.verdict.kind;
  return v === "error" || v === "opa_unavailable" || (v === "true" && e.policy.outcome === "deny");
}

/**
 * The decision for evaluated policies, a pure function. Disabled policies do not count. Any
 * DENY whose condition is true denies, and so does a policy that failed (runtime error, OPA
 * unavailable): the highest-priority one decides, so a deny beats any allow. Otherwise the
 * highest-priority true ALLOW or REQUIRE_MFA decides (ties: require_mfa over allow, then
 * name); with none, the organization's default.
 */
export function decide(evaluated: readonly Evaluated[], defaultOutcome: PolicyOutcomeKind): PolicyDecision {
  const live = evaluated.filter((e) => e.policy.enabled).sort((a, b) => byPriority(a.policy, b.policy));
  const denial = live.find(deniesBy);
  if (denial) {
    const { policy, verdict } = denial;
    if (verdict.kind === "true") return matched(policy);
    const reason = verdict.kind === "error" ? `runtime_error: ${verdict.error}` : "opa_unavailable";
    return { outcome: "deny", policyId: policy.id, policyName: policy.name, message: FAILED_MESSAGE, reason };
  }
  const granting = live
    .filter((e) => e.verdict.kind === "true" && e.policy.outcome !== "deny")
    .sort(
      (a, b) =>
        b.policy.priority - a.policy.priority ||
        Number(b.policy.outcome === "require_mfa") - Number(a.policy.outcome === "require_mfa") ||
        byPriority(a.policy, b.policy),
    )[0];
  if (granting) return matched(granting.policy);
  return { outcome: defaultOutcome, policyId: "", policyName: "", message: ORGANIZATION_DEFAULT_MESSAGES[defaultOutcome], reason: "default" };
}

function matched(p: PolicyHead): PolicyDecision {
  return { outcome: p.outcome, policyId: p.id, policyName: p.name, message: p.message || DEFAULT_MESSAGES[p.outcome], reason: "matched" };
}
