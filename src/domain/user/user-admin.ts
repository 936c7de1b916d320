import { auditActor } from "../audit/audit-actor.js";
import type { Clock } from "../../clock.js";
import type { PasswordHasher } from "../../crypto/password-hasher.js";
import type { Db } from "../../db/client.js";
import type { SessionRepository } from "../../db/repositories/session-repository.js";
import type { UserRepository } from "../../db/repositories/user-repository.js";
import type { UserRow } from "../../db/schema/index.js";
import type { AuditLog } from "../audit/audit-log.js";
import { checkDisplayName, normalizeEmail } from "../auth/email.js";
import type { PasswordPolicy } from "../auth/password-policy.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import { DomainError, invalidArgument, notFound } from "../errors.js";
import type { UserPrincipal } from "../principal.js";
import type { SessionManager } from "../session/session-manager.js";

export interface UserAdminDeps {
  db: Db;
  clock: Clock;
  users: UserRepository;
  sessionRepo: SessionRepository;
  sessions: SessionManager;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  audit: AuditLog;
  /** True when every named RBAC role exists. */
  roleExists(names: string[]): Promise<boolean>;
}

const ROLE_NAME = /^[a-z][a-z0-9_.-]{0,62}$/;

/** Reads for any signed-in caller, changes by system admins, each change audited with it. */
export class UserAdmin {
  constructor(private readonly d: UserAdminDeps) {}

  private async checkRoles(roles: string[]): Promise<string[]> {
    const names = checkRoleNames(roles);
    if (!(await this.d.roleExists(names))) throw invalidArgument("roles", "names a role that does not exist", "ROLE_UNKNOWN");
    return names;
  }

  async get(id: string): Promise<UserRow> {
    const user = await this.d.users.findById(this.d.db, id);
    if (!user) throw notFound("user");
    return user;
  }

  async getByEmail(rawEmail: string): Promise<UserRow> {
    const user = await this.d.users.findByEmail(this.d.db, normalizeEmail(rawEmail));
    if (!user) throw notFound("user");
    return user;
  }

  async list(req: { pageSize: number; pageToken: string; emailPrefix: string }): Promise<{ users: UserRow[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const rows = await this.d.users.list(this.d.db, size + 1, decodeCreatedCursor(req.pageToken), req.emailPrefix.trim().toLowerCase() || undefined);
    const page = pageOf(rows, size, createdCursorOf);
    return { users: page.items, nextPageToken: page.nextPageToken };
  }

  /** The first administrator from configuration; created once, never overwritten. */
  async ensureBootstrapAdmin(email: string, password: string): Promise<{ created: boolean; user: UserRow }> {
    const normalized = normalizeEmail(email, "admin_email");
    const existing = await this.d.users.findByEmail(this.d.db, normalized);
    if (existing) return { created: false, user: existing };
    this.d.policy.check(password, [normalized], "admin_password");
    const passwordHash = await this.d.hasher.hash(password);
    return this.d.db.transaction(async (tx) => {
      const user = await this.d.users.create(
        tx,
        { email: normalized, displayName: "Administrator", passwordHash, admin: true, roles: ["admin"] },
        this.d.clock.now(),
      );
      if (!user) return { created: false, user: (await this.d.users.findByEmail(tx, normalized))! };
      await this.d.audit.record(tx, {
        eventType: "user.bootstrap_admin",
        outcome: "success",
        actorType: "system",
        actorId: "config",
        targetType: "user",
        targetId: user.id,
      });
      return { created: true, user };
    });
  }

  async create(
    actor: UserPrincipal,
    req: { email: string; password: string; displayName: string; roles: string[]; admin: boolean },
    meta: RequestMeta,
  ): Promise<UserRow> {
    const email = normalizeEmail(req.email);
    const displayName = checkDisplayName(req.displayName);
    const roles = await this.checkRoles(req.roles);
    let passwordHash: string | null = null;
    if (req.password) {
      this.d.policy.check(req.password, [email, displayName]);
      passwordHash = await this.d.hasher.hash(req.password);
    }
    return this.d.db.transaction(async (tx) => {
      const user = await this.d.users.create(tx, { email, displayName, passwordHash, admin: req.admin, roles }, this.d.clock.now());
      if (!user) throw new DomainError("already_exists", "EMAIL_TAKEN", "an account with this email already exists");
      await this.d.audit.record(tx, {
        eventType: "user.create",
        outcome: "success",
        ...auditActor(actor, meta),
        targetType: "user",
        targetId: user.id,
        details: { admin: String(req.admin), roles: roles.join(",") },
      });
      return user;
    });
  }

  async update(actor: UserPrincipal, id: string, changes: { displayName?: string; admin?: boolean; roles?: string[] }, meta: RequestMeta): Promise<UserRow> {
    const set: { displayName?: string; admin?: boolean; roles?: string[] } = {};
    if (changes.displayName !== undefined) set.displayName = checkDisplayName(changes.displayName);
    if (changes.roles !== undefined) set.roles = await this.checkRoles(changes.roles);
    if (changes.admin !== undefined) {
      if (!changes.admin && id === actor.userId)
        throw new DomainError("failed_precondition", "CANNOT_DEMOTE_SELF", "an administrator cannot remove their own admin flag");
      set.admin = changes.admin;
    }
    const user = await this.d.db.transaction(async (tx) => {
      const row = await this.d.users.update(tx, id, set, this.d.clock.now());
      if (!row) throw notFound("user");
      await this.d.audit.record(tx, {
        eventType: "user.update",
        outcome: "success",
        ...auditActor(actor, meta),
        targetType: "user",
        targetId: id,
        details: describeChanges(set),
      });
      return row;
    });
    await this.d.sessions.userChanged(id);
    return user;
  }

  async setDisabled(actor: UserPrincipal, id: string, disabled: boolean, meta: RequestMeta): Promise<UserRow> {
    if (disabled && id === actor.userId)
      throw new DomainError("failed_precondition", "CANNOT_DISABLE_SELF", "an administrator cannot disable their own account");
    const { user, revoked } = await this.d.db.transaction(async (tx) => {
      const now = this.d.clock.now();
      const row = await this.d.users.update(tx, id, { disabled }, now);
      if (!row) throw notFound("user");
      const ids = disabled ? await this.d.sessionRepo.revokeAllForUser(tx, id, "user_disabled", now) : [];
      await this.d.audit.record(tx, {
        eventType: disabled ? "user.disable" : "user.enable",
        outcome: "success",
        ...auditActor(actor, meta),
        targetType: "user",
        targetId: id,
        details: { revoked_sessions: String(ids.length) },
      });
      return { user: row, revoked: ids };
    });
    await this.d.sessions.revoked(revoked);
    await this.d.sessions.userChanged(id);
    return user;
  }

  async delete(actor: UserPrincipal, id: string, meta: RequestMeta): Promise<void> {
    if (id === actor.userId) throw new DomainError("failed_precondition", "CANNOT_DELETE_SELF", "an administrator cannot delete their own account");
    const revoked = await this.d.db.transaction(async (tx) => {
      const now = this.d.clock.now();
      const row = await this.d.users.softDelete(tx, id, now);
      if (!row) throw notFound("user");
      const ids = await this.d.sessionRepo.revokeAllForUser(tx, id, "user_deleted", now);
      await this.d.audit.record(tx, { eventType: "user.delete", outcome: "success", ...auditActor(actor, meta), targetType: "user", targetId: id });
      return ids;
    });
    await this.d.sessions.revoked(revoked);
    await this.d.sessions.userChanged(id);
  }
}

function checkRoleNames(roles: string[]): string[] {
  const unique = [...new Set(roles)];
  if (unique.length > 64) throw invalidArgument("roles", "at most 64 roles");
  for (const r of unique) if (!ROLE_NAME.test(r)) throw invalidArgument("roles", `"${r.slice(0, 64)}" is not a valid role name`);
  return unique;
}

function describeChanges(set: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(set)) out[k] = Array.isArray(v) ? v.join(",") : String(v);
  return out;
}
