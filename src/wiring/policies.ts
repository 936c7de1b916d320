import { CelCompiler } from "../domain/policy/cel-compiler.js";
import { OpaClient } from "../domain/policy/opa-client.js";
import { Policies } from "../domain/policy/policies.js";
import type { PolicyContexts } from "../domain/policy/policy-contexts.js";
import type { PolicyEvaluator } from "../domain/policy/policy-decision.js";
import { PolicyDryRun } from "../domain/policy/policy-dry-run.js";
import { PolicyEngine } from "../domain/policy/policy-engine.js";
import { policyHandlers } from "../handlers/policy.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { OrgPolicyArea } from "./org-policy.js";

export interface PolicyArea {
  evaluator: PolicyEvaluator;
  policies: Policies;
  /** PolicyService, once sessions can give a signed-in user's own context (EvaluatePolicy without an input). */
  handlers(contexts: Pick<PolicyContexts, "forUser">): Pick<ServiceHandlers, "policy">;
}

/** Organizations' access policies: CEL compiled and cached, Rego delegated to OPA. */
export function wirePolicies(core: Core, deps: { orgPolicy: OrgPolicyArea }): PolicyArea {
  const { config, store, clock, audit, bus, caches } = core;
  const compiler = new CelCompiler({ costLimit: config.policy_cel_cost_limit });
  const evaluator = new PolicyEngine({
    store,
    caches,
    bus,
    compiler,
    opa: new OpaClient({ url: config.opa_url, timeoutMs: config.opa_timeout_ms }),
    evalTimeoutMs: config.policy_eval_timeout_ms,
  });
  const policies = new Policies({ store, orgAccess: core.orgAccess, compiler, clock, audit, bus });
  const handlers = (contexts: Pick<PolicyContexts, "forUser">) => ({
    policy: policyHandlers(policies, new PolicyDryRun({ contexts, evaluator, settings: deps.orgPolicy.reader })),
  });
  return { evaluator, policies, handlers };
}
