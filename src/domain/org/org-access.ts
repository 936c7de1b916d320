import { DomainError, invalidArgument, notFound, permissionDenied } from "../errors.js";
import { isUuid } from "../ids.js";
import { hasSystemAccess, type Principal } from "../principal.js";
import type { OrganizationRow } from "../records.js";
import type { OrganizationStore } from "../store/organization-store.js";
import { lowerRole, roleAtLeast, roleForScopes, type MemberRole } from "./member-role.js";

export interface OrgGrant {
  organization: OrganizationRow;
  /** The caller's effective role; undefined for a caller with system access who is not a member. */
  role: MemberRole | undefined;
}

/**
 * Decides whether a caller may act in an organization with at least a given role, or acts there
 * by system access (its roles allow the method's permission). Permission comes before
 * existence: a caller who is not a member hears PERMISSION_DENIED whether or not the
 * organization exists, so ids of other tenants cannot be probed.
 */
export class OrgAccess {
  constructor(private readonly store: { orgs: Pick<OrganizationStore, "membership" | "findById"> }) {}

  async effectiveRole(p: Principal, organizationId: string): Promise<MemberRole | undefined> {
    if (p.kind === "user") return (await this.store.orgs.membership(organizationId, p.userId))?.role as MemberRole | undefined;
    if (p.organizationId !== organizationId) return undefined;
    const scopeRole = roleForScopes(p.scopes);
    if (!scopeRole) return undefined;
    if (!p.ownerUserId) return scopeRole;
    // A user's key never does more than its owner may do now.
    const ownerRole = (await this.store.orgs.membership(organizationId, p.ownerUserId))?.role as MemberRole | undefined;
    return ownerRole ? lowerRole(ownerRole, scopeRole) : undefined;
  }

  async require(p: Principal, organizationId: string, needed: MemberRole): Promise<OrgGrant> {
    if (!organizationId) throw invalidArgument("organization_id", "is required");
    if (!isUuid(organizationId)) throw invalidArgument("organization_id", "is not a valid id");
    const system = hasSystemAccess(p);
    const role = await this.effectiveRole(p, organizationId);
    const denied = () => permissionDenied("ORGANIZATION_ROLE_REQUIRED", `requires the ${needed} role in the organization`);
    if (!system && !roleAtLeast(role, needed)) throw denied();
    const organization = await this.store.orgs.findById(organizationId);
    if (!organization) {
      if (!system) throw denied();
      throw notFound("ORGANIZATION_NOT_FOUND", "organization");
    }
    if (organization.suspended) throw new DomainError("permission_denied", "ORGANIZATION_SUSPENDED", "the organization is suspended");
    // An organization that requires MFA is reached by its members only from sessions that passed a
    // second factor; machine credentials are the organization's own and are not affected, and
    // system access is the operator's, governed by the caller's roles.
    if (organization.requireMfa && p.kind === "user" && !system && !p.mfaAt)
      throw new DomainError("failed_precondition", "MFA_REQUIRED", "this organization requires a second factor: enroll one (MfaService) and sign in with it");
    return { organization, role };
  }
}
