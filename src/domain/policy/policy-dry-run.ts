import type { JsonValue } from "@bufbuild/protobuf";
import { permissionDenied } from "../errors.js";
import { roleAtLeast } from "../org/member-role.js";
import type { OrgGrant } from "../org/org-access.js";
import type { OrgPolicyReader } from "../orgpolicy/org-policy-settings.js";
import { hasSystemAccess, type Principal } from "../principal.js";
import type { PolicyContexts } from "./policy-contexts.js";
import type { PolicyDecision, PolicyEvaluator } from "./policy-decision.js";
import { policyInputFromJson } from "./policy-input.js";

export interface PolicyDryRunDeps {
  contexts: Pick<PolicyContexts, "forUser">;
  evaluator: PolicyEvaluator;
  settings: OrgPolicyReader;
}

/**
 * EvaluatePolicy: what the organization's policies decide for an input, with no side effect
 * (nothing written, nothing audited). Members evaluate their own context; an explicit input,
 * which can describe anyone, needs an organization admin (or system access).
 */
export class PolicyDryRun {
  constructor(private readonly d: PolicyDryRunDeps) {}

  async evaluate(
    caller: Principal,
    grant: OrgGrant,
    explicitInput: JsonValue | undefined,
    request: { ip: string; userAgent: string; method: string },
  ): Promise<PolicyDecision> {
    let input;
    if (explicitInput !== undefined) {
      if (!roleAtLeast(grant.role, "admin") && !hasSystemAccess(caller))
        throw permissionDenied("ORGANIZATION_ROLE_REQUIRED", "an explicit input needs the admin role in the organization; members evaluate their own context");
      input = policyInputFromJson(explicitInput);
    } else {
      if (caller.kind !== "user") throw permissionDenied("USER_SESSION_REQUIRED", "a machine credential has no context of its own: give an explicit input");
      input = await this.d.contexts.forUser(caller, grant.organization, request);
    }
    const settings = await this.d.settings.settings(grant.organization.id);
    return this.d.evaluator.evaluate(grant.organization.id, input, settings.defaultPolicyOutcome);
  }
}
