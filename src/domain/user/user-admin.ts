import type { Clock } from "../../clock.js";
import type { PasswordHasher } from "../../crypto/password-hasher.js";
import type { AuditLog } from "../audit/audit-log.js";
import { auditActor } from "../audit/audit-actor.js";
import { checkDisplayName, normalizeEmail } from "../auth/email.js";
import type { PasswordPolicy } from "../auth/password-policy.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound, permissionDenied } from "../errors.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { UserPrincipal } from "../principal.js";
import { ADMIN_ROLE, isAdmin } from "../rbac/builtin-roles.js";
import type { RoleCatalog } from "../rbac/role-catalog.js";
import type { UserRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { OrganizationStore } from "../store/organization-store.js";
import type { SessionStore } from "../store/session-store.js";
import type { Ports } from "../store/transactional.js";
import type { UserStore } from "../store/user-store.js";
import { checkTraits, type Traits } from "./traits.js";
import type { SessionManager } from "../session/session-manager.js";

export interface UserAdminDeps {
  store: Ports<{
    users: Pick<UserStore, "create" | "findById" | "findByEmail" | "findByLoginAlias" | "list" | "update" | "softDelete">;
    sessions: Pick<SessionStore, "revokeAllForUser">;
    orgs: Pick<OrganizationStore, "soleOwnerOf" | "lockOwnedOrganizations">;
    audit: Pick<AuditStore, "append">;
  }>;
  clock: Clock;
  sessions: SessionManager;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  audit: AuditLog;
  roles: RoleCatalog;
}

export interface NewUserInput {
  email: string;
  password: string;
  displayName: string;
  roles: string[];
  /** Shorthand for holding the built-in admin role. */
  admin: boolean;
  /** The login name (stored as the login alias); "" for none. */
  username?: string;
  traits?: Traits;
}

export interface UserChangeInput {
  displayName?: string;
  /** true adds the admin role, false removes it. */
  admin?: boolean;
  /** Replaces the role list. */
  roles?: string[];
  /** Sets the login alias (the username); "" removes it. */
  loginAlias?: string;
  /** Replaces every trait. */
  traits?: Traits;
}

export const LOGIN_ALIAS = /^[a-z0-9][a-z0-9._-]{1,63}$/;

/** A login alias as stored: lower-cased (case-insensitive like email), never with "@"; "" means none. */
export function normalizeLoginAlias(raw: string): string | null {
  const alias = raw.trim().toLowerCase();
  if (alias === "") return null;
  if (!LOGIN_ALIAS.test(alias)) throw invalidArgument("login_alias", 'must be 2-64 of a-z, 0-9, ".", "_", "-", starting with a letter or digit');
  return alias;
}

const ROLE_ASSIGN = { resource: "role", verb: "assign" } as const;

/**
 * Users as callers whose roles allow the user permissions see them. Roles are granted only by
 * callers who may assign roles (role/assign), and a user who holds roles is changed only by
 * them too: otherwise a user manager could make itself, or undo, an administrator.
 */
export class UserAdmin {
  constructor(private readonly d: UserAdminDeps) {}

  async list(req: { pageSize: number; pageToken: string; emailPrefix: string }): Promise<{ users: UserRow[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const rows = await this.d.store.users.list(size + 1, decodeCreatedCursor(req.pageToken), req.emailPrefix.trim().toLowerCase() || undefined);
    const page = pageOf(rows, size, createdCursorOf);
    return { users: page.items, nextPageToken: page.nextPageToken };
  }

  /** The first administrator from configuration; created once, never overwritten. */
  async ensureBootstrapAdmin(email: string, password: string): Promise<{ created: boolean; user: UserRow }> {
    const normalized = normalizeEmail(email, "admin_email");
    const existing = await this.d.store.users.findByEmail(normalized);
    if (existing) return { created: false, user: existing };
    this.d.policy.check(password, [normalized], "admin_password");
    const passwordHash = await this.d.hasher.hash(password);
    return this.d.store.transaction(async (tx) => {
      const now = this.d.clock.now();
      // The operator who configured this address vouches for it.
      const user = await tx.users.create({ email: normalized, displayName: "Administrator", passwordHash, roles: [ADMIN_ROLE], emailVerifiedAt: now }, now);
      if (!user) return { created: false, user: (await tx.users.findByEmail(normalized))! };
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

  async create(actor: UserPrincipal, req: NewUserInput, meta: RequestMeta): Promise<UserRow> {
    const email = normalizeEmail(req.email);
    const displayName = checkDisplayName(req.displayName);
    const roles = await this.checkRoles(withAdmin(req.roles, req.admin || req.roles.includes(ADMIN_ROLE)));
    if (roles.length > 0) this.requireRoleAssignment(actor);
    const loginAlias = normalizeLoginAlias(req.username ?? "");
    const traits = checkTraits(req.traits ?? {});
    let passwordHash: string | null = null;
    if (req.password) {
      this.d.policy.check(req.password, [email, displayName]);
      passwordHash = await this.d.hasher.hash(req.password);
    }
    return this.d.store.transaction(async (tx) => {
      const now = this.d.clock.now();
      // An administrator who creates an account vouches for its address.
      if (loginAlias) await aliasFree(tx, loginAlias, "");
      const user = await tx.users.create({ email, displayName, passwordHash, roles, emailVerifiedAt: now, loginAlias, traits }, now);
      if (!user) throw new DomainError("already_exists", "EMAIL_TAKEN", "an account with this email already exists");
      await this.d.audit.record(tx, {
        eventType: "user.create",
        outcome: "success",
        ...auditActor(actor, meta),
        targetType: "user",
        targetId: user.id,
        details: { admin: String(isAdmin(user)), roles: roles.join(",") },
      });
      return user;
    });
  }

  async update(actor: UserPrincipal, id: string, changes: UserChangeInput, meta: RequestMeta): Promise<UserRow> {
    const target = await this.changeableUser(actor, id);
    const set: { displayName?: string; roles?: string[]; loginAlias?: string | null; traits?: Traits } = {};
    if (changes.displayName !== undefined) set.displayName = checkDisplayName(changes.displayName);
    if (changes.traits !== undefined) set.traits = checkTraits(changes.traits);
    if (changes.loginAlias !== undefined) set.loginAlias = normalizeLoginAlias(changes.loginAlias);
    if (changes.roles !== undefined || changes.admin !== undefined) {
      // `admin` is its own field in the API: a new role list keeps the admin role unless it is set false.
      const keepAdmin = isAdmin(target) || (changes.roles ?? []).includes(ADMIN_ROLE);
      const roles = withAdmin(changes.roles ?? target.roles, changes.admin ?? keepAdmin);
      if (id === actor.userId && isAdmin(target) && !roles.includes(ADMIN_ROLE))
        throw new DomainError("failed_precondition", "CANNOT_DEMOTE_SELF", "an administrator cannot remove their own admin role");
      set.roles = await this.checkRoles(roles);
      if (!sameRoles(set.roles, target.roles)) this.requireRoleAssignment(actor);
    }
    const user = await this.d.store.transaction(async (tx) => {
      if (set.loginAlias) await aliasFree(tx, set.loginAlias, id);
      const row = await tx.users.update(id, set, this.d.clock.now());
      if (!row) throw notFound("USER_NOT_FOUND", "user");
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

  /** The caller's own login alias ("" removes it). */
  async setOwnLoginAlias(actor: UserPrincipal, raw: string, meta: RequestMeta): Promise<UserRow> {
    const loginAlias = normalizeLoginAlias(raw);
    return this.d.store.transaction(async (tx) => {
      if (loginAlias) await aliasFree(tx, loginAlias, actor.userId);
      const row = await tx.users.update(actor.userId, { loginAlias }, this.d.clock.now());
      if (!row) throw notFound("USER_NOT_FOUND", "user");
      await this.d.audit.record(tx, {
        eventType: "user.update",
        outcome: "success",
        ...auditActor(actor, meta),
        targetType: "user",
        targetId: actor.userId,
        details: { login_alias: loginAlias ?? "" },
      });
      return row;
    });
  }

  async setDisabled(actor: UserPrincipal, id: string, disabled: boolean, meta: RequestMeta): Promise<UserRow> {
    if (disabled && id === actor.userId)
      throw new DomainError("failed_precondition", "CANNOT_DISABLE_SELF", "an administrator cannot disable their own account");
    await this.changeableUser(actor, id);
    const { user, revoked } = await this.d.store.transaction(async (tx) => {
      const now = this.d.clock.now();
      const row = await tx.users.update(id, { disabled }, now);
      if (!row) throw notFound("USER_NOT_FOUND", "user");
      const ids = disabled ? await tx.sessions.revokeAllForUser(id, "user_disabled", now) : [];
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
    await this.changeableUser(actor, id);
    const revoked = await this.d.store.transaction(async (tx) => {
      // The organizations' rows are locked first, as every membership change does: two owners'
      // deletions, or a deletion and an owner leaving, cannot both see the other as still there.
      await tx.orgs.lockOwnedOrganizations(id);
      const owned = await tx.orgs.soleOwnerOf(id);
      if (owned.length > 0)
        throw new DomainError("failed_precondition", "LAST_OWNER", "the user is the last owner of an organization: give it another owner or delete it first", {
          metadata: { organization_ids: owned.slice(0, 20).join(",") },
        });
      const now = this.d.clock.now();
      const row = await tx.users.softDelete(id, now);
      if (!row) throw notFound("USER_NOT_FOUND", "user");
      const ids = await tx.sessions.revokeAllForUser(id, "user_deleted", now);
      await this.d.audit.record(tx, { eventType: "user.delete", outcome: "success", ...auditActor(actor, meta), targetType: "user", targetId: id });
      return ids;
    });
    await this.d.sessions.revoked(revoked);
    await this.d.sessions.userChanged(id);
  }

  /** The target, when the actor may change it: one who holds roles needs role assignment rights. */
  private async changeableUser(actor: UserPrincipal, id: string): Promise<UserRow> {
    const target = await this.d.store.users.findById(id);
    if (!target) throw notFound("USER_NOT_FOUND", "user");
    if (target.roles.length > 0) this.requireRoleAssignment(actor);
    return target;
  }

  private requireRoleAssignment(actor: UserPrincipal): void {
    if (!actor.permissions.allows(ROLE_ASSIGN))
      throw permissionDenied("ROLE_ASSIGNMENT_REQUIRED", "granting roles, or changing a user who holds roles, needs the role/assign permission");
  }

  private async checkRoles(roles: string[]): Promise<string[]> {
    const names = [...new Set(roles)];
    if ((await this.d.roles.unknown(names)).length > 0) throw invalidArgument("roles", "names a role that does not exist", "ROLE_UNKNOWN");
    return names;
  }
}

/** The role list with the admin role added (true) or removed (false). */
function withAdmin(roles: string[], admin: boolean): string[] {
  const rest = roles.filter((r) => r !== ADMIN_ROLE);
  return admin ? [ADMIN_ROLE, ...rest] : rest;
}

function sameRoles(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join(",") === [...b].sort().join(",");
}

function describeChanges(set: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(set)) out[k] = Array.isArray(v) ? v.join(",") : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
  return out;
}

/** Refuses an alias another live user holds (the unique index catches a race between two). */
async function aliasFree(tx: { users: Pick<UserStore, "findByLoginAlias"> }, alias: string, ownerId: string): Promise<void> {
  const holder = await tx.users.findByLoginAlias(alias);
  if (holder && holder.id !== ownerId) throw new DomainError("already_exists", "LOGIN_ALIAS_TAKEN", "another account has this login alias");
}
