import type { Clock } from "../../clock.js";
import { auditActor } from "../audit/audit-actor.js";
import type { AuditLog } from "../audit/audit-log.js";
import { normalizeEmail } from "../auth/email.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { Principal } from "../principal.js";
import type { LockRow } from "../records.js";
import type { AgentIdentityStore } from "../store/agent-identity-store.js";
import type { AuditStore } from "../store/audit-store.js";
import type { LockStore, LockTargetKind } from "../store/lock-store.js";
import type { RoleStore } from "../store/role-store.js";
import type { Ports } from "../store/transactional.js";
import type { UserStore } from "../store/user-store.js";
import type { LockRegistry } from "./lock-registry.js";

export interface NewLock {
  kind: LockTargetKind;
  value: string;
  message: string;
  ttlSeconds?: number;
  expiresAt?: Date;
}

export interface LocksDeps {
  store: Ports<{ locks: LockStore; audit: AuditStore }> & {
    users: Pick<UserStore, "findById" | "findByEmail">;
    roles: Pick<RoleStore, "find">;
    agentIdentities: Pick<AgentIdentityStore, "findById">;
  };
  clock: Clock;
  audit: AuditLog;
  bus: InvalidationBus;
  registry: Pick<LockRegistry, "reload">;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;
/** As role logins are written (RoleService). */
const LOGIN = /^[a-z_][a-z0-9_.-]{0,31}$/;

/**
 * LockService: admins make, list and delete locks. A lock is committed with its audit event,
 * then announced on the bus ("lock"), and this instance reloads before answering, so the lock
 * is in force here when CreateLock returns and on the others as soon as the notification lands.
 */
export class Locks {
  constructor(private readonly d: LocksDeps) {}

  async create(caller: Principal, req: NewLock, meta: RequestMeta): Promise<LockRow> {
    const now = this.d.clock.now();
    const expiresAt = this.expiryOf(req, now);
    const value = await this.targetValue(req.kind, req.value);
    if (caller.kind === "user" && ((req.kind === "user" && value === caller.userId) || (req.kind === "role" && caller.roles.includes(value))))
      throw new DomainError("failed_precondition", "CANNOT_LOCK_SELF", "a lock may not cover the admin who makes it");
    const row = await this.d.store.transaction(async (tx) => {
      const created = await tx.locks.create({
        targetKind: req.kind,
        targetValue: value,
        message: req.message,
        expiresAt: expiresAt ?? null,
        createdBy: caller.kind === "user" ? caller.userId : caller.id,
        createdAt: now,
      });
      await this.d.audit.record(tx, {
        eventType: "lock.create",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "lock",
        targetId: created.id,
        details: {
          target_kind: req.kind,
          target_value: value,
          message: req.message,
          ...(expiresAt ? { expires_at: expiresAt.toISOString() } : {}),
        },
      });
      return created;
    });
    await this.announce(row.id);
    return row;
  }

  async list(pageSizeRequested: number, pageToken: string, kind?: LockTargetKind): Promise<{ items: LockRow[]; nextPageToken: string }> {
    const size = pageSize(pageSizeRequested);
    const rows = await this.d.store.locks.list(size + 1, decodeCreatedCursor(pageToken), kind);
    return pageOf(rows, size, createdCursorOf);
  }

  async delete(caller: Principal, id: string, meta: RequestMeta): Promise<void> {
    await this.d.store.transaction(async (tx) => {
      const deleted = await tx.locks.delete(id);
      if (!deleted) throw notFound("NOT_FOUND", "lock");
      await this.d.audit.record(tx, {
        eventType: "lock.delete",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "lock",
        targetId: id,
        details: { target_kind: deleted.targetKind, target_value: deleted.targetValue },
      });
    });
    await this.announce(id);
  }

  /** Every instance reloads; this one before the call returns. */
  private async announce(id: string): Promise<void> {
    await this.d.bus.publish([{ topic: "lock", id }]);
    await this.d.registry.reload();
  }

  private expiryOf(req: NewLock, now: Date): Date | undefined {
    if (req.ttlSeconds !== undefined) {
      if (!(req.ttlSeconds > 0)) throw invalidArgument("ttl", "must be positive");
      return new Date(now.getTime() + req.ttlSeconds * 1000);
    }
    if (req.expiresAt && req.expiresAt.getTime() <= now.getTime()) throw invalidArgument("expires_at", "must be in the future");
    return req.expiresAt;
  }

  /**
   * The value as locks are matched: ids and hostnames lower-cased, a user's email resolved to
   * the id. Users, roles and agent identities must exist (a typo locks nobody); a node may be
   * named by a hostname before it joins, and a login need not be granted by any role yet.
   */
  private async targetValue(kind: LockTargetKind, raw: string): Promise<string> {
    const field = "target.value";
    switch (kind) {
      case "user": {
        if (!UUID.test(raw) && !raw.includes("@")) throw invalidArgument(field, "a user is named by id or email");
        const user = UUID.test(raw) ? await this.d.store.users.findById(raw.toLowerCase()) : await this.d.store.users.findByEmail(normalizeEmail(raw, field));
        if (!user || user.deletedAt) throw notFound("USER_NOT_FOUND", "user");
        return user.id;
      }
      case "role":
        if (!(await this.d.store.roles.find(raw))) throw invalidArgument(field, `no role named "${raw}"`, "ROLE_UNKNOWN");
        return raw;
      case "node":
        if (!UUID.test(raw) && !HOSTNAME.test(raw)) throw invalidArgument(field, "a node is named by agent id or hostname");
        return raw.toLowerCase();
      case "device":
        if (!UUID.test(raw)) throw invalidArgument(field, "a device is named by id");
        return raw.toLowerCase();
      case "agent_identity":
        if (!UUID.test(raw)) throw invalidArgument(field, "an agent identity is named by id");
        if (!(await this.d.store.agentIdentities.findById(raw.toLowerCase()))) throw notFound("AGENT_IDENTITY_NOT_FOUND", "agent identity");
        return raw.toLowerCase();
      case "login":
        if (!LOGIN.test(raw)) throw invalidArgument(field, "a login is a Unix user name (^[a-z_][a-z0-9_.-]{0,31}$)");
        return raw;
    }
  }
}
