import type { PolicyInput } from "../../../gen/warden/policy/v1/policy_service_pb.js";

export type PolicyOutcomeKind = "allow" | "deny" | "require_mfa";

/** What an organization's policies decided for one input, and why. */
export interface PolicyDecision {
  outcome: PolicyOutcomeKind;
  /** The deciding policy; empty when the organization's default decided. */
  policyId: string;
  policyName: string;
  message: string;
  /** "matched", "default", "runtime_error: ...", "opa_unavailable", ... */
  reason: string;
}

/** Evaluates an organization's enabled policies (cached, compiled) against one input. No side effects. */
export interface PolicyEvaluator {
  evaluate(organizationId: string, input: PolicyInput, defaultOutcome: PolicyOutcomeKind): Promise<PolicyDecision>;
}
