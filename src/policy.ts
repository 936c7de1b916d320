import { create, getOption, hasOption, ScalarType, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Access, OrgRole, PolicySchema, RateClass, Scope, policy as policyExtension, type Policy } from "../gen/warden/options/v1/options_pb.js";
import { isKnownPermission, type Permission } from "./domain/rbac/permissions.js";

const policies = new WeakMap<DescMethod, Policy | null>();

/**
 * Policies of published contracts whose protos stay exactly as their owners publish them (no
 * option can be added there). The start-up walk checks these like any declared in a proto.
 */
const SIDE_POLICIES = new Map<string, Policy>([
  ["nauthilus.auth.v1.AuthService/Authenticate", create(PolicySchema, { access: Access.BACKCHANNEL })],
  ["nauthilus.auth.v1.AuthService/ListAccounts", create(PolicySchema, { access: Access.BACKCHANNEL })],
]);

/** The policy declared for a method (in its proto, or in the side table), or undefined when there is none (read once per method). */
export function policyOf(method: DescMethod): Policy | undefined {
  let p = policies.get(method);
  if (p === undefined) {
    const declared = hasOption(method, policyExtension) ? getOption(method, policyExtension) : SIDE_POLICIES.get(`${method.parent.typeName}/${method.name}`);
    p = declared && declared.access !== Access.UNSPECIFIED ? declared : null;
    policies.set(method, p);
  }
  return p ?? undefined;
}

/** How the server finds a method's policy: the proto's, unless a setting replaced it. */
export type PolicyLookup = (method: DescMethod) => Policy | undefined;

/** The proto's policies, with those a setting changes for this server (reflection's, say) replaced. */
export function policiesWith(overrides: ReadonlyMap<DescMethod, Policy>): PolicyLookup {
  return overrides.size ? (method) => overrides.get(method) ?? policyOf(method) : policyOf;
}

/** The permission a policy declares, or undefined. */
export function permissionOf(policy: Policy): Permission | undefined {
  return policy.permission?.resource ? { resource: policy.permission.resource, verb: policy.permission.verb } : undefined;
}

const SERVED_ACCESS = new Set([
  Access.PUBLIC,
  Access.AUTHENTICATED,
  Access.ORG_ADMIN,
  Access.ORG_MEMBER,
  Access.ADMIN,
  Access.DEV,
  Access.BACKCHANNEL,
  Access.AGENT,
]);
const ORG_ACCESS = new Set([Access.ORG_ADMIN, Access.ORG_MEMBER]);
const known = (e: Record<string | number, string | number>, v: number) => typeof e[v] === "string";

/** What is wrong with one method's policy; empty when the server can enforce it as declared. */
export function policyProblemsOf(method: DescMethod): string[] {
  const p = policyOf(method);
  if (!p) return ["no access policy"];
  const problems: string[] = [];
  if (!SERVED_ACCESS.has(p.access)) problems.push(`access ${Access[p.access] ?? p.access} is not served`);
  if (!known(Scope, p.scope)) problems.push(`unknown scope ${p.scope}`);
  if (!known(RateClass, p.rateClass)) problems.push(`unknown rate class ${p.rateClass}`);
  if (!known(OrgRole, p.minOrgRole)) problems.push(`unknown organization role ${p.minOrgRole}`);
  const permission = permissionOf(p);
  if (p.permission && !permission) problems.push("a permission needs a resource");
  if (permission && !isKnownPermission(permission)) problems.push(`unknown permission ${permission.resource}/${permission.verb}`);
  if (p.access === Access.ADMIN && !permission) problems.push("ACCESS_ADMIN needs a permission");
  // Public methods have no caller to decide on; the backchannel's callers are not users.
  if (p.evaluatePolicies && (p.access === Access.PUBLIC || p.access === Access.BACKCHANNEL || p.access === Access.DEV || p.access === Access.AGENT))
    problems.push("evaluate_policies needs a signed-in caller (not public, backchannel, agent or dev access)");
  // Agents hold no roles and no scopes: nothing of those could be enforced.
  if (p.access === Access.AGENT && (permissionOf(p) || p.scope !== Scope.UNSPECIFIED || p.freshMfaMinutes))
    problems.push("agent access takes no permission, scope or fresh_mfa");
  if (p.zeroTrustExempt && !ORG_ACCESS.has(p.access)) problems.push("zero_trust_exempt is only for organization access");
  if (p.zeroTrustExempt && p.evaluatePolicies) problems.push("zero_trust_exempt contradicts evaluate_policies");
  if (ORG_ACCESS.has(p.access)) {
    const field = (method.input as DescMessage).fields.find((f) => f.name === p.orgField);
    if (!p.orgField) problems.push("organization access needs org_field");
    else if (!field || field.fieldKind !== "scalar" || field.scalar !== ScalarType.STRING)
      problems.push(`org_field "${p.orgField}" is not a string field of ${method.input.typeName}`);
  } else {
    if (p.orgField) problems.push("org_field is only for organization access");
    if (p.minOrgRole !== OrgRole.UNSPECIFIED) problems.push("min_org_role is only for organization access");
  }
  return problems;
}

/** Every registered method whose policy cannot be enforced; the server refuses to start unless this is empty. */
export function policyProblems(services: DescService[]): string[] {
  return services.flatMap((s) => s.methods.flatMap((m) => policyProblemsOf(m).map((problem) => `${s.typeName}/${m.name}: ${problem}`)));
}

/** Methods without a usable policy (kept for the walk test's first question). */
export function methodsWithoutPolicy(services: DescService[]): string[] {
  return services.flatMap((s) => s.methods.filter((m) => !policyOf(m)).map((m) => `${s.typeName}/${m.name}`));
}
