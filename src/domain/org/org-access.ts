import type { Db } from "../../db/client.js";
import type { OrganizationRepository } from "../../db/repositories/organization-repository.js";
import { isUuid } from "../../db/repositories/user-repository.js";
import type { OrganizationRow } from "../../db/schema/index.js";
import { DomainError, invalidArgument, notFound, permissionDenied } from "../errors.js";
import type { Principal } from "../principal.js";
import { lowerRole, roleAtLeast, roleForScopes, type MemberRole } from "./member-role.js";

export interface OrgGrant {
  organization: OrganizationRow;
  /** The caller's effective role; undefined for a system admin who is not a member. */
  role: MemberRole | undefined;
}

/**
 * Decides whether a caller may act in an organization with at least a given role.
 * Permission comes before existence: a caller who is not a member hears PERMISSION_DENIED
 * whether or not the organization exists, so ids of other tenants cannot be probed.
 */
export class OrgAccess {
  constructor(
    private readonly db: Db,
    private readonly orgs: OrganizationRepository,
  ) {}

  async effectiveRole(p: Principal, organizationId: string): Promise<MemberRole | undefined> {
    if (p.kind === "user") return (await this.orgs.membership(this.db, organizationId, p.userId))?.role as MemberRole | undefined;
    if (p.organizationId !== organizationId) return undefined;
    const scopeRole = roleForScopes(p.scopes);
    if (!scopeRole) return undefined;
    if (!p.ownerUserId) return scopeRole;
    // A user's key never does more than its owner may do now.
    const ownerRole = (await this.orgs.membership(this.db, organizationId, p.ownerUserId))?.role as MemberRole | undefined;
    return ownerRole ? lowerRole(ownerRole, scopeRole) : undefined;
  }

  async require(p: Principal, organizationId: string, needed: MemberRole): Promise<OrgGrant> {
    if (!organizationId) throw invalidArgument("organization_id", "is required");
    if (!isUuid(organizationId)) throw invalidArgument("organization_id", "is not a valid id");
    const systemAdmin = p.kind === "user" && p.admin;
    const role = await this.effectiveRole(p, organizationId);
    if (!systemAdmin && !roleAtLeast(role, needed)) throw permissionDenied("ORGANIZATION_ROLE_REQUIRED", `requires the ${needed} role in the organization`);
    const organization = await this.orgs.findById(this.db, organizationId);
    if (!organization) {
      if (!systemAdmin) throw permissionDenied("ORGANIZATION_ROLE_REQUIRED", `requires the ${needed} role in the organization`);
      throw notFound("organization");
    }
    if (organization.suspended) throw new DomainError("permission_denied", "ORGANIZATION_SUSPENDED", "the organization is suspended");
    // An organization that requires MFA is reached by its members only from sessions that passed a
    // second factor; machine credentials are the organization's own and are not affected.
    if (organization.requireMfa && p.kind === "user" && !p.admin && !p.mfaAt)
      throw new DomainError("failed_precondition", "MFA_REQUIRED", "this organization requires a second factor: enroll one (MfaService) and sign in with it");
    return { organization, role };
  }
}
