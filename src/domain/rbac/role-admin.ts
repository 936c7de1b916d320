import type { Clock } from "../../clock.js";
import type { AuditLog } from "../audit/audit-log.js";
import { auditActor } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import { decodePageToken, pageOf, pageSize } from "../pagination.js";
import type { Principal } from "../principal.js";
import type { RoleRow, RoleRule } from "../records.js";

/** A role as callers write it: permissions (rules) and its SSH section. */
export type RoleInput = { name: string; description: string; rules: RoleRule[] } & Partial<RoleSsh & RoleRequests>;
import type { AuditStore } from "../store/audit-store.js";
import { NO_REQUESTS, NO_SSH, type RoleRequests, type RoleSsh, type RoleStore } from "../store/role-store.js";
import type { Ports } from "../store/transactional.js";
import { BUILTIN_ROLES } from "./builtin-roles.js";
import { ruleProblem } from "./permissions.js";
import type { RoleCatalog } from "./role-catalog.js";

export interface RoleAdminDeps {
  store: Ports<{ roles: RoleStore; audit: Pick<AuditStore, "append"> }>;
  catalog: RoleCatalog;
  audit: AuditLog;
  clock: Clock;
  bus: InvalidationBus;
}

/**
 * RBAC roles: written by callers whose roles allow role/create|update|delete, read by anyone
 * signed in. Every change is published on the invalidation bus, so each instance's role cache
 * (RoleCatalog) forgets it and the next call is decided by the new rules.
 */
export class RoleAdmin {
  constructor(private readonly d: RoleAdminDeps) {}

  /**
   * Creates the built-in roles, and brings their rules up to date with this version. A custom
   * role that already holds a built-in's name is left alone; its name is returned.
   */
  async ensureBuiltins(): Promise<string[]> {
    const shadowed: string[] = [];
    for (const b of BUILTIN_ROLES) {
      const existing = await this.d.store.roles.find(b.name);
      if (!existing) await this.d.store.roles.create({ ...b, builtin: true }, this.d.clock.now());
      else if (!existing.builtin) shadowed.push(b.name);
      else if (JSON.stringify(existing.rules) !== JSON.stringify(b.rules) || existing.description !== b.description) {
        await this.d.store.roles.update(b.name, { description: b.description, rules: b.rules }, this.d.clock.now());
        await this.d.bus.publish([{ topic: "role", id: b.name }]);
      }
    }
    return shadowed;
  }

  async get(name: string): Promise<RoleRow> {
    const row = await this.d.catalog.find(name);
    if (!row) throw notFound("ROLE_NOT_FOUND", "role");
    return row;
  }

  async list(req: { pageSize: number; pageToken: string }): Promise<{ items: RoleRow[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const cursor = decodePageToken<{ n: string }>(req.pageToken, ["n"]);
    return pageOf(await this.d.store.roles.list(size + 1, cursor?.n), size, (r) => ({ n: r.name }));
  }

  async create(caller: Principal, role: RoleInput, meta: RequestMeta): Promise<RoleRow> {
    const checked = checkRole(role);
    await this.requireRolesExist(checked);
    const created = await this.d.store.transaction(async (tx) => {
      const row = await tx.roles.create(checked, this.d.clock.now());
      if (!row) throw new DomainError("already_exists", "ROLE_EXISTS", "a role with this name exists");
      await this.d.audit.record(tx, { eventType: "role.create", outcome: "success", ...auditActor(caller, meta), targetType: "role", targetId: row.name });
      return row;
    });
    await this.d.bus.publish([{ topic: "role", id: created.name }]);
    return created;
  }

  /** Replaces the role's description, rules, SSH and access-request sections; of a built-in role, only the last two may change. */
  async update(caller: Principal, role: RoleInput, meta: RequestMeta): Promise<RoleRow> {
    const checked = checkRole(role);
    await this.requireRolesExist(checked);
    const updated = await this.d.store.transaction(async (tx) => {
      const existing = await tx.roles.find(checked.name);
      if (!existing) throw notFound("ROLE_NOT_FOUND", "role");
      const ssh = {
        logins: checked.logins,
        nodeLabels: checked.nodeLabels,
        maxSessionTtlSeconds: checked.maxSessionTtlSeconds,
        sshPermissions: checked.sshPermissions,
      };
      const requests = { requestRoles: checked.requestRoles, reviewRoles: checked.reviewRoles, approvalsRequired: checked.approvalsRequired };
      if (existing.builtin && (checked.description !== existing.description || rulesText(checked.rules) !== rulesText(existing.rules)))
        throw new DomainError(
          "failed_precondition",
          "ROLE_BUILTIN",
          "built-in roles cannot be changed, except their SSH section (logins, node_labels, max_session_ttl, ssh_permissions) and access requests (request_roles, review_roles, approvals_required)",
        );
      const row = await tx.roles.update(checked.name, { description: checked.description, rules: checked.rules, ...ssh, ...requests }, this.d.clock.now());
      await this.d.audit.record(tx, { eventType: "role.update", outcome: "success", ...auditActor(caller, meta), targetType: "role", targetId: checked.name });
      return row!;
    });
    await this.d.bus.publish([{ topic: "role", id: updated.name }]);
    return updated;
  }

  async delete(caller: Principal, name: string, meta: RequestMeta): Promise<void> {
    await this.d.store.transaction(async (tx) => {
      const existing = await tx.roles.find(name);
      if (!existing) throw notFound("ROLE_NOT_FOUND", "role");
      if (existing.builtin) throw new DomainError("failed_precondition", "ROLE_BUILTIN", "built-in roles cannot be deleted");
      await tx.roles.delete(name);
      await this.d.audit.record(tx, { eventType: "role.delete", outcome: "success", ...auditActor(caller, meta), targetType: "role", targetId: name });
    });
    await this.d.bus.publish([{ topic: "role", id: name }]);
  }

  /** request_roles and review_roles name roles that exist (a typo would grant or allow nothing); the role itself may be named. */
  private async requireRolesExist(role: { name: string; requestRoles: string[]; reviewRoles: string[] }): Promise<void> {
    for (const field of ["requestRoles", "reviewRoles"] as const) {
      const unknown = await this.d.catalog.unknown(role[field].filter((n) => n !== role.name));
      if (unknown.length > 0)
        throw invalidArgument(`role.${field === "requestRoles" ? "request_roles" : "review_roles"}`, `no role named "${unknown[0]}"`, "ROLE_UNKNOWN");
    }
  }
}

/** Rules compared by content, whatever the order of their keys. */
function rulesText(rules: RoleRule[]): string {
  return JSON.stringify(rules.map((r) => [r.resources, r.verbs, r.effect]));
}

/** The shape of a role is the proto's; what a rule may name, and a sane TTL cap, are decided here. */
function checkRole(role: RoleInput) {
  role.rules.forEach((r, i) => {
    const problem = ruleProblem(r.resources, r.verbs);
    if (problem) throw invalidArgument(`role.rules[${i}]`, `${problem} (see the permission list in the README)`);
  });
  const ttl = role.maxSessionTtlSeconds ?? null;
  if (ttl !== null && (!Number.isInteger(ttl) || ttl < 60 || ttl > 366 * 86_400))
    throw invalidArgument("role.max_session_ttl", "must be whole seconds from 1 minute to 366 days");
  const approvals = role.approvalsRequired || 1;
  if (!Number.isInteger(approvals) || approvals < 1 || approvals > 10) throw invalidArgument("role.approvals_required", "must be from 1 to 10");
  return {
    ...NO_SSH,
    ...NO_REQUESTS,
    ...role,
    maxSessionTtlSeconds: ttl,
    logins: [...new Set(role.logins ?? [])],
    requestRoles: [...new Set(role.requestRoles ?? [])],
    reviewRoles: [...new Set(role.reviewRoles ?? [])],
    approvalsRequired: approvals,
  };
}
