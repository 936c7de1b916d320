import { auditActor } from "../audit/audit-actor.js";
import type { Clock } from "../../clock.js";
import type { OrganizationRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { MemberWithUser, OrganizationStore } from "../store/organization-store.js";
import type { Ports } from "../store/transactional.js";
import type { UserStore } from "../store/user-store.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound, permissionDenied } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import { decodeCreatedCursor, createdCursorOf, decodePageToken, pageOf, pageSize } from "../pagination.js";
import { hasSystemAccess, type Principal, type UserPrincipal } from "../principal.js";
import { roleAtLeast, type MemberRole, type OrganizationTier } from "./member-role.js";
import type { OrgGrant } from "./org-access.js";

export interface OrganizationDeps {
  store: Ports<{ orgs: OrganizationStore; users: Pick<UserStore, "lockForUpdate" | "findById">; audit: Pick<AuditStore, "append"> }>;
  clock: Clock;
  audit: AuditLog;
  bus: InvalidationBus;
  maxOrganizationsPerUser: number;
  /** What an account with an unverified email may not do (require_verified_email_to_* settings). */
  requireVerifiedEmail: { toCreate: boolean; toJoin: boolean };
}

const notVerified = (who: string) => new DomainError("failed_precondition", "EMAIL_NOT_VERIFIED", `${who} must verify their email address first`);

export type OrganizationView = OrganizationRow & { callerRole?: MemberRole };

/** Organizations and their members. Access to the organization is decided by OrgAccess first. */
export class Organizations {
  constructor(private readonly d: OrganizationDeps) {}

  async create(caller: UserPrincipal, name: string, tier: OrganizationTier, meta: RequestMeta): Promise<OrganizationView> {
    // Shape (length, no control characters, not blank) is checked by the proto's rules.
    const cleanName = name.trim();
    if (this.d.requireVerifiedEmail.toCreate && !(await this.d.store.users.findById(caller.userId))?.emailVerifiedAt) throw notVerified("the caller");
    return this.d.store.transaction(async (tx) => {
      // Counted under a per-user lock, so parallel creates cannot pass the limit together.
      await tx.users.lockForUpdate(caller.userId);
      if (!caller.systemAccess && (await tx.orgs.countCreatedBy(caller.userId)) >= this.d.maxOrganizationsPerUser)
        throw new DomainError("resource_exhausted", "ORGANIZATION_LIMIT", `at most ${this.d.maxOrganizationsPerUser} organizations per user`);
      const now = this.d.clock.now();
      const org = await tx.orgs.create({ name: cleanName, tier, createdBy: caller.userId }, now);
      await tx.orgs.addMember({ organizationId: org.id, userId: caller.userId, role: "owner", accepted: true }, now);
      await this.d.audit.record(tx, {
        eventType: "org.create",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "organization",
        targetId: org.id,
        details: { tier },
      });
      return { ...org, callerRole: "owner" as const };
    });
  }

  /** An empty name keeps the name; requireMfa undefined keeps that setting. */
  async update(caller: Principal, grant: OrgGrant, change: { name: string; requireMfa?: boolean }, meta: RequestMeta): Promise<OrganizationView> {
    const set: { name?: string; requireMfa?: boolean } = {};
    if (change.name || change.requireMfa === undefined) {
      if (!change.name.trim()) throw invalidArgument("name", "is required unless require_mfa is set");
      set.name = change.name.trim();
    }
    if (change.requireMfa !== undefined) set.requireMfa = change.requireMfa;
    const org = await this.d.store.transaction(async (tx) => {
      const row = await tx.orgs.update(grant.organization.id, set, this.d.clock.now());
      if (!row) throw notFound("ORGANIZATION_NOT_FOUND", "organization");
      const details = Object.fromEntries(Object.entries(set).map(([k, v]) => [k, String(v)]));
      await this.d.audit.record(tx, {
        eventType: "org.update",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "organization",
        targetId: row.id,
        details,
      });
      return row;
    });
    // Every instance's cached copy of the organization (OrgDirectory, OrgAccess) is dropped.
    await this.d.bus.publish([{ topic: "org", id: org.id }]);
    return { ...org, callerRole: grant.role };
  }

  async delete(caller: Principal, grant: OrgGrant, meta: RequestMeta): Promise<void> {
    await this.d.store.transaction(async (tx) => {
      const now = this.d.clock.now();
      const org = await tx.orgs.update(grant.organization.id, { deletedAt: now }, now);
      if (!org) throw notFound("ORGANIZATION_NOT_FOUND", "organization");
      await this.d.audit.record(tx, { eventType: "org.delete", outcome: "success", ...auditActor(caller, meta), targetType: "organization", targetId: org.id });
    });
    await this.d.bus.publish([{ topic: "org", id: grant.organization.id }]);
  }

  async list(caller: UserPrincipal, req: { pageSize: number; pageToken: string }): Promise<{ items: OrganizationView[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const rows = await this.d.store.orgs.list(size + 1, caller.systemAccess ? undefined : caller.userId, decodeCreatedCursor(req.pageToken));
    const page = pageOf(rows, size, createdCursorOf);
    return { items: page.items.map((r) => ({ ...r, callerRole: (r.callerRole ?? undefined) as MemberRole | undefined })), nextPageToken: page.nextPageToken };
  }

  /** System admins only (policy); suspension takes effect on every instance at once. */
  async setSuspended(caller: UserPrincipal, id: string, suspended: boolean, meta: RequestMeta): Promise<OrganizationView> {
    const org = await this.d.store.transaction(async (tx) => {
      const row = await tx.orgs.update(id, { suspended }, this.d.clock.now());
      if (!row) throw notFound("ORGANIZATION_NOT_FOUND", "organization");
      await this.d.audit.record(tx, {
        eventType: suspended ? "org.suspend" : "org.resume",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "organization",
        targetId: id,
      });
      return row;
    });
    await this.d.bus.publish([{ topic: "org", id }]);
    return org;
  }

  async addMember(caller: Principal, grant: OrgGrant, userId: string, role: MemberRole, meta: RequestMeta): Promise<MemberWithUser> {
    this.checkGrantable(caller, grant, role);
    const user = await this.d.store.users.findById(userId);
    if (!user) throw notFound("USER_NOT_FOUND", "user");
    if (this.d.requireVerifiedEmail.toJoin && !user.emailVerifiedAt) throw notVerified("the user");
    const added = await this.d.store.transaction(async (tx) => {
      const m = await tx.orgs.addMember({ organizationId: grant.organization.id, userId, role }, this.d.clock.now());
      if (!m) throw new DomainError("already_exists", "ALREADY_MEMBER", "the user is already a member");
      await this.d.audit.record(tx, {
        eventType: "org.member_add",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "user",
        targetId: userId,
        details: { organization_id: grant.organization.id, role },
      });
      return { ...m, email: user.email, displayName: user.displayName };
    });
    // A cached "not a member" (OrgDirectory) and the user's session limits are dropped everywhere.
    await this.d.bus.publish([{ topic: "user", id: userId }]);
    return added;
  }

  async updateMemberRole(caller: Principal, grant: OrgGrant, userId: string, role: MemberRole, meta: RequestMeta): Promise<MemberWithUser> {
    this.checkGrantable(caller, grant, role);
    const changed = await this.d.store.transaction(async (tx) => {
      const current = await this.lockedMember(tx, grant, userId);
      this.checkMayChange(caller, grant, current.role as MemberRole);
      if (current.role === "owner" && role !== "owner") await this.keepAnOwner(tx, grant.organization.id, userId);
      const m = await tx.orgs.setRole(grant.organization.id, userId, role);
      await this.d.audit.record(tx, {
        eventType: "org.member_role",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "user",
        targetId: userId,
        details: { organization_id: grant.organization.id, from: current.role, to: role },
      });
      return m!;
    });
    await this.d.bus.publish([{ topic: "user", id: userId }]);
    const user = await this.d.store.users.findById(userId);
    return { ...changed, email: user?.email ?? "", displayName: user?.displayName ?? "" };
  }

  /**
   * The caller accepts their membership: from then on the organization's zero-trust rules
   * (policies, device and session sections) decide the caller's sign-ins and refreshes too.
   */
  async acceptMembership(caller: UserPrincipal, grant: OrgGrant, meta: RequestMeta): Promise<MemberWithUser> {
    const user = await this.d.store.users.findById(caller.userId);
    if (!user) throw notFound("USER_NOT_FOUND", "user");
    const accepted = await this.d.store.transaction(async (tx) => {
      const m = await tx.orgs.acceptMembership(grant.organization.id, caller.userId, this.d.clock.now());
      if (!m) throw notFound("MEMBER_NOT_FOUND", "membership");
      await this.d.audit.record(tx, {
        eventType: "org.member_accept",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "organization",
        targetId: grant.organization.id,
        details: { role: m.role },
      });
      return { ...m, email: user.email, displayName: user.displayName };
    });
    await this.d.bus.publish([{ topic: "user", id: caller.userId }]);
    return accepted;
  }

  async removeMember(caller: Principal, grant: OrgGrant, userId: string, meta: RequestMeta): Promise<void> {
    await this.d.store.transaction(async (tx) => {
      const current = await this.lockedMember(tx, grant, userId);
      this.checkMayChange(caller, grant, current.role as MemberRole);
      if (current.role === "owner") await this.keepAnOwner(tx, grant.organization.id, userId);
      await tx.orgs.removeMember(grant.organization.id, userId);
      await this.d.audit.record(tx, {
        eventType: "org.member_remove",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "user",
        targetId: userId,
        details: { organization_id: grant.organization.id, role: current.role },
      });
    });
    await this.d.bus.publish([{ topic: "user", id: userId }]);
  }

  async listMembers(grant: OrgGrant, req: { pageSize: number; pageToken: string }): Promise<{ items: MemberWithUser[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const c = decodePageToken<{ t: string; u: string }>(req.pageToken, ["t", "u"]);
    const rows = await this.d.store.orgs.listMembers(grant.organization.id, size + 1, c ? { createdAt: new Date(c.t), userId: c.u } : undefined);
    return pageOf(rows, size, (m) => ({ t: m.createdAt.toISOString(), u: m.userId }));
  }

  private async lockedMember(tx: { orgs: OrganizationStore }, grant: OrgGrant, userId: string) {
    await tx.orgs.lockOrganization(grant.organization.id);
    const current = await tx.orgs.membership(grant.organization.id, userId);
    if (!current) throw notFound("MEMBER_NOT_FOUND", "member");
    return current;
  }

  /** Owners are made and unmade only by owners (or system admins). */
  private checkGrantable(caller: Principal, grant: OrgGrant, role: MemberRole): void {
    if (role === "owner" && !isOwnerOrSystemAdmin(caller, grant)) throw permissionDenied("OWNER_REQUIRED", "only an owner may grant the owner role");
  }

  private checkMayChange(caller: Principal, grant: OrgGrant, targetRole: MemberRole): void {
    if (targetRole === "owner" && !isOwnerOrSystemAdmin(caller, grant)) throw permissionDenied("OWNER_REQUIRED", "only an owner may change an owner");
  }

  private async keepAnOwner(tx: { orgs: OrganizationStore }, organizationId: string, leavingUserId: string): Promise<void> {
    const owners = await tx.orgs.lockOwners(organizationId);
    if (owners.filter((id) => id !== leavingUserId).length === 0)
      throw new DomainError("failed_precondition", "LAST_OWNER", "an organization must keep at least one owner");
  }
}

function isOwnerOrSystemAdmin(caller: Principal, grant: OrgGrant): boolean {
  return hasSystemAccess(caller) || roleAtLeast(grant.role, "owner");
}
