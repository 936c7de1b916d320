import type { PolicyEvaluator } from "../domain/policy/policy-decision.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { OrgPolicyArea } from "./org-policy.js";
import { notYet } from "./not-yet.js";

export interface PolicyArea {
  evaluator: PolicyEvaluator;
  handlers: Pick<ServiceHandlers, "policy">;
}

/** Organizations' access policies: CEL compiled and cached, Rego delegated to OPA. */
export function wirePolicies(core: Core, deps: { orgPolicy: OrgPolicyArea }): PolicyArea {
  void core;
  void deps;
  return { evaluator: notYet("policy evaluator"), handlers: { policy: notYet("PolicyService") } };
}
