import type { Clock } from "../../clock.js";
import type { Db } from "../../db/client.js";
import type { RoleRepository } from "../../db/repositories/role-repository.js";
import type { RoleRow, RoleRule } from "../../db/schema/index.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound } from "../errors.js";
import { auditActor } from "../audit/audit-actor.js";
import { decodePageToken, pageOf, pageSize } from "../pagination.js";
import type { Principal, UserPrincipal } from "../principal.js";
import { evaluateRules } from "./rules.js";
import type { InvalidationBus } from "../invalidation.js";

export const BUILTIN_ADMIN_ROLE = "admin";
const NAME = /^[a-z][a-z0-9_.-]{0,62}$/;
const TOKEN = /^(\*|[a-z][a-z0-9_.-]{0,62})$/;

/**
 * RBAC roles: written by system admins, read by anyone signed in. Reads come from a per-instance
 * cache that every change clears on every instance (the invalidation bus), so a change is seen
 * on the next call, not at the next sign-in.
 */
export class RoleAdmin {
  private readonly cache = new Map<string, RoleRow | null>();

  constructor(
    private readonly db: Db,
    private readonly repo: RoleRepository,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly bus: InvalidationBus,
  ) {
    bus.subscribe((tag) => {
      if (tag.startsWith("role:")) this.cache.delete(tag.slice(5));
    });
  }

  /** The built-in admin role exists on every installation. */
  async ensureBuiltins(): Promise<void> {
    await this.repo.create(
      this.db,
      {
        name: BUILTIN_ADMIN_ROLE,
        description: "System administrator: everything",
        rules: [{ resources: ["*"], verbs: ["*"], effect: "allow" }],
        builtin: true,
      },
      this.clock.now(),
    );
  }

  async get(name: string): Promise<RoleRow> {
    let row = this.cache.get(name);
    if (row === undefined) {
      row = (await this.repo.find(this.db, name)) ?? null;
      // Bounded: names that do not exist are remembered only while the cache is small.
      if (row || this.cache.size < 10_000) this.cache.set(name, row);
    }
    if (!row) throw notFound("role");
    return row;
  }

  async list(req: { pageSize: number; pageToken: string }): Promise<{ items: RoleRow[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const cursor = decodePageToken<{ n: string }>(req.pageToken, ["n"]);
    return pageOf(await this.repo.list(this.db, size + 1, cursor?.n), size, (r) => ({ n: r.name }));
  }

  async create(caller: Principal, role: { name: string; description: string; rules: RoleRule[] }, meta: RequestMeta): Promise<RoleRow> {
    const checked = checkRole(role);
    const created = await this.db.transaction(async (tx) => {
      const row = await this.repo.create(tx, checked, this.clock.now());
      if (!row) throw new DomainError("already_exists", "ROLE_EXISTS", "a role with this name exists");
      await this.audit.record(tx, { eventType: "role.create", outcome: "success", ...auditActor(caller, meta), targetType: "role", targetId: row.name });
      return row;
    });
    await this.bus.publish([`role:${created.name}`]);
    return created;
  }

  async update(caller: Principal, role: { name: string; description: string; rules: RoleRule[] }, meta: RequestMeta): Promise<RoleRow> {
    const checked = checkRole(role);
    const updated = await this.db.transaction(async (tx) => {
      const existing = await this.repo.find(tx, checked.name);
      if (!existing) throw notFound("role");
      if (existing.builtin) throw new DomainError("failed_precondition", "ROLE_BUILTIN", "built-in roles cannot be changed");
      const row = await this.repo.update(tx, checked.name, { description: checked.description, rules: checked.rules }, this.clock.now());
      await this.audit.record(tx, { eventType: "role.update", outcome: "success", ...auditActor(caller, meta), targetType: "role", targetId: checked.name });
      return row!;
    });
    await this.bus.publish([`role:${updated.name}`]);
    return updated;
  }

  async delete(caller: Principal, name: string, meta: RequestMeta): Promise<void> {
    await this.db.transaction(async (tx) => {
      const existing = await this.repo.find(tx, name);
      if (!existing) throw notFound("role");
      if (existing.builtin) throw new DomainError("failed_precondition", "ROLE_BUILTIN", "built-in roles cannot be deleted");
      await this.repo.delete(tx, name);
      await this.audit.record(tx, { eventType: "role.delete", outcome: "success", ...auditActor(caller, meta), targetType: "role", targetId: name });
    });
    await this.bus.publish([`role:${name}`]);
  }

  /** Names that do not exist (for UpdateUser). */
  async unknownRoles(names: string[]): Promise<string[]> {
    const found = new Set((await this.repo.findMany(this.db, names)).map((r) => r.name));
    return names.filter((n) => !found.has(n));
  }

  /** Whether a user's roles, read now, allow a verb on a resource. */
  async allowed(user: UserPrincipal, resource: string, verb: string): Promise<boolean> {
    if (user.admin) return true;
    const rows = await this.repo.findMany(this.db, user.roles);
    return evaluateRules(
      rows.flatMap((r) => r.rules),
      resource,
      verb,
    ).allowed;
  }
}

function checkRole(role: { name: string; description: string; rules: RoleRule[] }) {
  if (!NAME.test(role.name)) throw invalidArgument("role.name", "lower-case letters, digits, '_', '.', '-'; starts with a letter; at most 63");
  if ([...role.description].length > 500) throw invalidArgument("role.description", "at most 500 characters");
  if (role.rules.length === 0 || role.rules.length > 100) throw invalidArgument("role.rules", "1 to 100 rules");
  role.rules.forEach((r, i) => {
    if (r.resources.length === 0 || !r.resources.every((x) => TOKEN.test(x))) throw invalidArgument(`role.rules[${i}].resources`, "names or '*'");
    if (r.verbs.length === 0 || !r.verbs.every((x) => TOKEN.test(x))) throw invalidArgument(`role.rules[${i}].verbs`, "names or '*'");
  });
  return { name: role.name, description: role.description, rules: role.rules };
}
