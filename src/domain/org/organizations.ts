import { auditActor } from "../audit/audit-actor.js";
import type { Clock } from "../../clock.js";
import type { Db } from "../../db/client.js";
import type { MemberWithUser, OrganizationRepository } from "../../db/repositories/organization-repository.js";
import { isUuid, type UserRepository } from "../../db/repositories/user-repository.js";
import type { OrganizationRow } from "../../db/schema/index.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound, permissionDenied } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import { decodeCreatedCursor, createdCursorOf, decodePageToken, pageOf, pageSize } from "../pagination.js";
import type { Principal, UserPrincipal } from "../principal.js";
import { roleAtLeast, type MemberRole, type OrganizationTier } from "./member-role.js";
import type { OrgGrant } from "./org-access.js";

export interface OrganizationDeps {
  db: Db;
  clock: Clock;
  orgs: OrganizationRepository;
  users: UserRepository;
  audit: AuditLog;
  bus: InvalidationBus;
  maxOrganizationsPerUser: number;
}

export type OrganizationView = OrganizationRow & { callerRole?: MemberRole };

/** Organizations and their members. Access to the organization is decided by OrgAccess first. */
export class Organizations {
  constructor(private readonly d: OrganizationDeps) {}

  async create(caller: UserPrincipal, name: string, tier: OrganizationTier, meta: RequestMeta): Promise<OrganizationView> {
    const cleanName = checkName(name);
    return this.d.db.transaction(async (tx) => {
      // Counted under a per-user lock, so parallel creates cannot pass the limit together.
      await this.d.users.lockForUpdate(tx, caller.userId);
      if (!caller.admin && (await this.d.orgs.countCreatedBy(tx, caller.userId)) >= this.d.maxOrganizationsPerUser)
        throw new DomainError("resource_exhausted", "ORGANIZATION_LIMIT", `at most ${this.d.maxOrganizationsPerUser} organizations per user`);
      const now = this.d.clock.now();
      const org = await this.d.orgs.create(tx, { name: cleanName, tier, createdBy: caller.userId }, now);
      await this.d.orgs.addMember(tx, { organizationId: org.id, userId: caller.userId, role: "owner" }, now);
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
    if (change.name || change.requireMfa === undefined) set.name = checkName(change.name);
    if (change.requireMfa !== undefined) set.requireMfa = change.requireMfa;
    const org = await this.d.db.transaction(async (tx) => {
      const row = await this.d.orgs.update(tx, grant.organization.id, set, this.d.clock.now());
      if (!row) throw notFound("organization");
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
    if (set.requireMfa !== undefined) await this.d.bus.publish([`org:${org.id}`]);
    return { ...org, callerRole: grant.role };
  }

  async delete(caller: Principal, grant: OrgGrant, meta: RequestMeta): Promise<void> {
    await this.d.db.transaction(async (tx) => {
      const now = this.d.clock.now();
      const org = await this.d.orgs.update(tx, grant.organization.id, { deletedAt: now }, now);
      if (!org) throw notFound("organization");
      await this.d.audit.record(tx, { eventType: "org.delete", outcome: "success", ...auditActor(caller, meta), targetType: "organization", targetId: org.id });
    });
    await this.d.bus.publish([`org:${grant.organization.id}`]);
  }

  async list(caller: UserPrincipal, req: { pageSize: number; pageToken: string }): Promise<{ items: OrganizationView[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const rows = await this.d.orgs.list(this.d.db, size + 1, caller.admin ? undefined : caller.userId, decodeCreatedCursor(req.pageToken));
    const page = pageOf(rows, size, createdCursorOf);
    return { items: page.items.map((r) => ({ ...r, callerRole: (r.callerRole ?? undefined) as MemberRole | undefined })), nextPageToken: page.nextPageToken };
  }

  /** System admins only (policy); suspension takes effect on every instance at once. */
  async setSuspended(caller: UserPrincipal, id: string, suspended: boolean, meta: RequestMeta): Promise<OrganizationView> {
    // The id reaches a uuid column: a malformed one is the caller's mistake, not a server error.
    if (!isUuid(id)) throw invalidArgument("id", id ? "is not a valid id" : "is required");
    const org = await this.d.db.transaction(async (tx) => {
      const row = await this.d.orgs.update(tx, id, { suspended }, this.d.clock.now());
      if (!row) throw notFound("organization");
      await this.d.audit.record(tx, {
        eventType: suspended ? "org.suspend" : "org.resume",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "organization",
        targetId: id,
      });
      return row;
    });
    await this.d.bus.publish([`org:${id}`]);
    return org;
  }

  async addMember(caller: Principal, grant: OrgGrant, userId: string, role: MemberRole, meta: RequestMeta): Promise<MemberWithUser> {
    this.checkGrantable(caller, grant, role);
    const user = await this.d.users.findById(this.d.db, userId);
    if (!user) throw notFound("user");
    return this.d.db.transaction(async (tx) => {
      const m = await this.d.orgs.addMember(tx, { organizationId: grant.organization.id, userId, role }, this.d.clock.now());
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
  }

  async updateMemberRole(caller: Principal, grant: OrgGrant, userId: string, role: MemberRole, meta: RequestMeta): Promise<MemberWithUser> {
    this.checkGrantable(caller, grant, role);
    const changed = await this.d.db.transaction(async (tx) => {
      const current = await this.lockedMember(tx, grant, userId);
      this.checkMayChange(caller, grant, current.role as MemberRole);
      if (current.role === "owner" && role !== "owner") await this.keepAnOwner(tx, grant.organization.id, userId);
      const m = await this.d.orgs.setRole(tx, grant.organization.id, userId, role);
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
    await this.d.bus.publish([`user:${userId}`]);
    const user = await this.d.users.findById(this.d.db, userId);
    return { ...changed, email: user?.email ?? "", displayName: user?.displayName ?? "" };
  }

  async removeMember(caller: Principal, grant: OrgGrant, userId: string, meta: RequestMeta): Promise<void> {
    await this.d.db.transaction(async (tx) => {
      const current = await this.lockedMember(tx, grant, userId);
      this.checkMayChange(caller, grant, current.role as MemberRole);
      if (current.role === "owner") await this.keepAnOwner(tx, grant.organization.id, userId);
      await this.d.orgs.removeMember(tx, grant.organization.id, userId);
      await this.d.audit.record(tx, {
        eventType: "org.member_remove",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "user",
        targetId: userId,
        details: { organization_id: grant.organization.id, role: current.role },
      });
    });
    await this.d.bus.publish([`user:${userId}`]);
  }

  async listMembers(grant: OrgGrant, req: { pageSize: number; pageToken: string }): Promise<{ items: MemberWithUser[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const c = decodePageToken<{ t: string; u: string }>(req.pageToken, ["t", "u"]);
    const rows = await this.d.orgs.listMembers(this.d.db, grant.organization.id, size + 1, c ? { createdAt: new Date(c.t), userId: c.u } : undefined);
    return pageOf(rows, size, (m) => ({ t: m.createdAt.toISOString(), u: m.userId }));
  }

  private async lockedMember(tx: Parameters<Parameters<Db["transaction"]>[0]>[0], grant: OrgGrant, userId: string) {
    await this.d.orgs.lockOrganization(tx, grant.organization.id);
    const current = await this.d.orgs.membership(tx, grant.organization.id, userId);
    if (!current) throw notFound("member");
    return current;
  }

  /** Owners are made and unmade only by owners (or system admins). */
  private checkGrantable(caller: Principal, grant: OrgGrant, role: MemberRole): void {
    if (role === "owner" && !isOwnerOrSystemAdmin(caller, grant)) throw permissionDenied("OWNER_REQUIRED", "only an owner may grant the owner role");
  }

  private checkMayChange(caller: Principal, grant: OrgGrant, targetRole: MemberRole): void {
    if (targetRole === "owner" && !isOwnerOrSystemAdmin(caller, grant)) throw permissionDenied("OWNER_REQUIRED", "only an owner may change an owner");
  }

  private async keepAnOwner(tx: Parameters<Parameters<Db["transaction"]>[0]>[0], organizationId: string, leavingUserId: string): Promise<void> {
    const owners = await this.d.orgs.lockOwners(tx, organizationId);
    if (owners.filter((id) => id !== leavingUserId).length === 0)
      throw new DomainError("failed_precondition", "LAST_OWNER", "an organization must keep at least one owner");
  }
}

function isOwnerOrSystemAdmin(caller: Principal, grant: OrgGrant): boolean {
  return (caller.kind === "user" && caller.admin) || roleAtLeast(grant.role, "owner");
}

function checkName(name: string): string {
  const clean = name.trim();
  if (!clean) throw invalidArgument("name", "is required");
  if ([...clean].length > 100) throw invalidArgument("name", "must be at most 100 characters");
  if (/\p{Cc}/u.test(clean)) throw invalidArgument("name", "must not contain control characters");
  return clean;
}
