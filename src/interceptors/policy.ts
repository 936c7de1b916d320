import type { DescMessage } from "@bufbuild/protobuf";
import type { Interceptor, StreamRequest, UnaryRequest } from "@connectrpc/connect";
import { Access, OrgRole, Scope, type Policy } from "../../gen/warden/options/v1/options_pb.js";
import type { Clock } from "../clock.js";
import { kAgent, kBackchannelCaller, kClientIp, kOrgGrant, kPrincipal, kRequestId } from "../context.js";
import type { RequestMeta } from "../domain/auth/request-meta.js";
import { DomainError, permissionDenied, unauthenticated } from "../domain/errors.js";
import type { MemberRole } from "../domain/org/member-role.js";
import type { OrgAccess } from "../domain/org/org-access.js";
import { hasScope, type ApiScope, type Principal, type UserPrincipal } from "../domain/principal.js";
import { permissionOf, policyOf, type PolicyLookup } from "../policy.js";

const SCOPES: Partial<Record<Scope, ApiScope>> = { [Scope.READ]: "read", [Scope.WRITE]: "write", [Scope.ADMIN]: "admin" };
const ORG_ROLES: Partial<Record<OrgRole, MemberRole>> = {
  [OrgRole.VIEWER]: "viewer",
  [OrgRole.MEMBER]: "member",
  [OrgRole.ADMIN]: "admin",
  [OrgRole.OWNER]: "owner",
};

/** The organizations' zero-trust rules for a user's call: one organization's, or (undefined) every accepted one's. */
export type CallPolicyCheck = (caller: UserPrincipal, organizationId: string | undefined, meta: RequestMeta & { method: string }) => Promise<void>;

/**
 * Enforces the proto-declared policy, the one place where access to a method is decided;
 * anything not explicitly allowed is refused. System access comes from the caller's RBAC roles
 * and the method's permission (a matching deny wins); it is recorded on the principal for the
 * domain rules that extend a caller's own things to everyone's.
 */

export function policyInterceptor(opts: {
  dev: boolean;
  orgAccess: OrgAccess;
  clock: Clock;
  policies?: PolicyLookup;
  callPolicies?: CallPolicyCheck;
}): Interceptor {
  const policies = opts.policies ?? policyOf;
  /**
   * A user's call passes the organizations' zero-trust rules after every other check: an
   * organization method its organization's rules (unless zero_trust_exempt), so a change to
   * them reaches every session at its next call there; any other method, those of every
   * organization the user accepted when it sets evaluate_policies.
   */
  const checked = async (req: UnaryRequest | StreamRequest, policy: Policy, caller: Principal, organizationId?: string) => {
    if (caller.kind !== "user") return;
    if (organizationId === undefined ? !policy.evaluatePolicies : policy.zeroTrustExempt) return;
    // Fail closed: a method that needs the rules is never served without them.
    if (!opts.callPolicies) throw permissionDenied("NO_POLICY", "access policies are not available");
    await opts.callPolicies(caller, organizationId, {
      clientIp: req.contextValues.get(kClientIp),
      userAgent: (req.header.get("user-agent") ?? "").slice(0, 512),
      requestId: req.contextValues.get(kRequestId),
      method: `/${req.service.typeName}/${req.method.name}`,
    });
  };
  return (next) => (req) => {
    const policy = policies(req.method);
    return policy?.access === Access.PUBLIC ? next(req) : enforced(req, policy, next);
  };

  async function enforced(req: UnaryRequest | StreamRequest, policy: Policy | undefined, next: Parameters<Interceptor>[0]) {
    if (!policy) throw permissionDenied("NO_POLICY", "method has no access policy");
    // Set only by the backchannel listener's caller check: anywhere else this refuses.
    if (policy.access === Access.BACKCHANNEL) {
      if (!req.contextValues.get(kBackchannelCaller)) throw unauthenticated("UNAUTHENTICATED", "a backchannel caller's credential is required");
      return next(req);
    }
    // Set only by the authn interceptor's agent check, for agent methods alone.
    if (policy.access === Access.AGENT) {
      if (!req.contextValues.get(kAgent)) throw unauthenticated("AGENT_CREDENTIAL_INVALID", "an agent's credential is required");
      return next(req);
    }
    if (policy.access === Access.DEV) {
      if (!opts.dev) throw new DomainError("unimplemented", "DEV_MODE_OFF", "only available in dev mode");
      return next(req);
    }
    const authenticated = req.contextValues.get(kPrincipal);
    if (!authenticated) throw unauthenticated();
    checkScope(authenticated, policy);
    checkFreshMfa(authenticated, policy, opts.clock);
    const caller = withSystemAccess(authenticated, policy);
    req.contextValues.set(kPrincipal, caller);
    switch (policy.access) {
      case Access.AUTHENTICATED:
        await checked(req, policy, caller);
        return next(req);
      case Access.ADMIN:
        if (caller.kind !== "user" || !caller.systemAccess) throw permissionRequired(policy);
        await checked(req, policy, caller);
        return next(req);
      case Access.ORG_ADMIN:
      case Access.ORG_MEMBER: {
        const needed = ORG_ROLES[policy.minOrgRole] ?? (policy.access === Access.ORG_ADMIN ? "admin" : "viewer");
        const grant = await opts.orgAccess.require(caller, orgIdOf(req, policy), needed);
        req.contextValues.set(kOrgGrant, grant);
        await checked(req, policy, caller, grant.organization.id);
        return next(req);
      }
      default:
        // The start-up check refuses any other access kind; should one slip through, it fails closed.
        throw permissionDenied("NO_POLICY", "caller may not use this method");
    }
  }
}

/** A user's principal for this call, marked with whether its roles allow the method's permission. */
function withSystemAccess(p: Principal, policy: Policy): Principal {
  if (p.kind !== "user") return p;
  const permission = permissionOf(policy);
  return { ...p, systemAccess: !!permission && p.permissions.allows(permission) };
}

function permissionRequired(policy: Policy): DomainError {
  const p = permissionOf(policy)!;
  return new DomainError("permission_denied", "PERMISSION_REQUIRED", `the caller's roles do not allow ${p.resource}/${p.verb}`, {
    metadata: { resource: p.resource, verb: p.verb },
  });
}

/** API keys and service accounts must hold the scope the method declares; none declared, no access. */
function checkScope(p: Principal, policy: Policy): void {
  if (p.kind === "user") return;
  const needed = SCOPES[policy.scope];
  if (!needed || !hasScope(p.scopes, needed)) throw permissionDenied("INSUFFICIENT_SCOPE", `the credential lacks the ${needed ?? "required"} scope`);
}

/** Methods with fresh_mfa need a second-factor proof younger than that many minutes. */
function checkFreshMfa(p: Principal, policy: Policy, clock: Clock): void {
  if (!policy.freshMfaMinutes) return;
  const mfaAt = p.kind === "user" ? p.mfaAt : undefined;
  if (!mfaAt || clock.now().getTime() - mfaAt.getTime() > policy.freshMfaMinutes * 60_000)
    throw new DomainError(
      "failed_precondition",
      "MFA_REQUIRED",
      `needs a second-factor proof from the last ${policy.freshMfaMinutes} minutes (MfaService/ValidateTotp)`,
    );
}

/** The organization id the request names, from the field the policy declares (checked at start). */
function orgIdOf(req: UnaryRequest | StreamRequest, policy: Policy): string {
  if (req.stream) throw permissionDenied("NO_POLICY", "organization-scoped streams are not supported");
  const field = (req.method.input as DescMessage).fields.find((f) => f.name === policy.orgField);
  if (!field) throw permissionDenied("NO_POLICY", "policy names no organization field");
  const value = (req.message as unknown as Record<string, unknown>)[field.localName];
  return typeof value === "string" ? value : "";
}
