import type { Clock } from "../../clock.js";
import { constantTimeEqual, sha256Hex } from "../../crypto/random.js";
import type { BoundedCache } from "../cache/bounded-cache.js";
import type { Caches } from "../cache/caches.js";
import { isUuid } from "../ids.js";
import type { ApiKeyRow } from "../records.js";
import type { ApiKeyStore } from "../store/api-key-store.js";
import type { AuditStore } from "../store/audit-store.js";
import type { OrganizationStore } from "../store/organization-store.js";
import type { ServiceAccountStore } from "../store/service-account-store.js";
import type { Ports } from "../store/transactional.js";
import type { UserStore } from "../store/user-store.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound, permissionDenied, unauthenticated } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import { roleAtLeast } from "../org/member-role.js";
import type { OrgAccess, OrgGrant } from "../org/org-access.js";
import { auditActor } from "../audit/audit-actor.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import { hasSystemAccess, type ApiScope, type MachinePrincipal, type Principal } from "../principal.js";
import { displayPrefix, isApiKeyFormat, newApiKey } from "./api-key-format.js";

export interface ApiKeyDeps {
  store: Ports<{
    apiKeys: ApiKeyStore;
    orgs: Pick<OrganizationStore, "findById" | "membership">;
    users: Pick<UserStore, "findById">;
    serviceAccounts: Pick<ServiceAccountStore, "findById">;
    audit: Pick<AuditStore, "append">;
  }>;
  clock: Clock;
  orgAccess: OrgAccess;
  audit: AuditLog;
  bus: InvalidationBus;
  caches: Caches;
}

interface ResolvedKey {
  principal: MachinePrincipal;
  row: ApiKeyRow;
}

const MAX_OVERLAP_SECONDS = 86_400;
const TOUCH_INTERVAL_MS = 60_000;

/**
 * API keys: created once and shown once, stored as SHA-256, bound to one organization and an
 * owner. Validation results are cached briefly and dropped on any change through the bus.
 */
export class ApiKeys {
  /** Validated keys by `hash:<sha256>` or `id:<uuid>`, dropped on any change to the key or its owners. */
  private readonly cache: BoundedCache<string, ResolvedKey>;
  /** When each key's last-used time was last written. */
  private readonly touched: BoundedCache<string, true>;

  constructor(private readonly d: ApiKeyDeps) {
    this.cache = d.caches.create("api_keys");
    this.touched = d.caches.create("api_keys_touched", { ttlSeconds: TOUCH_INTERVAL_MS / 1000 });
    d.bus.on("api_key", (id) => this.cache.deleteWhere((e) => e.row.id === id));
    d.bus.on("org", (id) => this.cache.deleteWhere((e) => e.row.organizationId === id));
    d.bus.on("user", (id) => this.cache.deleteWhere((e) => e.row.ownerUserId === id));
    d.bus.on("service_account", (id) => this.cache.deleteWhere((e) => e.row.ownerServiceAccountId === id));
  }

  async create(
    caller: Principal,
    grant: OrgGrant,
    req: { name: string; scopes: ApiScope[]; expiresAt?: Date; serviceAccountId: string },
    meta: RequestMeta,
  ): Promise<{ row: ApiKeyRow; secret: string }> {
    // Credentials are made by people: a leaked key or service-account token cannot mint a
    // longer-lived or independent one (see the README, "API keys").
    if (caller.kind !== "user") throw permissionDenied("USER_SESSION_REQUIRED", "credentials are created by signed-in users, not by other credentials");
    const name = req.name.trim();
    const scopes = checkScopes(req.scopes);
    const now = this.d.clock.now();
    if (req.expiresAt && req.expiresAt <= now) throw invalidArgument("expires_at", "must be in the future");
    let ownerUserId: string | null = null;
    let ownerServiceAccountId: string | null = null;
    if (req.serviceAccountId) {
      if (!roleAtLeast(grant.role, "admin") && !hasSystemAccess(caller))
        throw permissionDenied("ORGANIZATION_ROLE_REQUIRED", "only organization admins create keys for service accounts");
      const sa = await this.d.store.serviceAccounts.findById(req.serviceAccountId);
      if (!sa || sa.organizationId !== grant.organization.id) throw notFound("SERVICE_ACCOUNT_NOT_FOUND", "service account");
      ownerServiceAccountId = sa.id;
    } else {
      ownerUserId = caller.userId;
    }
    const secret = newApiKey();
    const row = await this.d.store.transaction(async (tx) => {
      const created = await tx.apiKeys.create(
        {
          organizationId: grant.organization.id,
          name,
          keyHash: sha256Hex(secret),
          prefix: displayPrefix(secret),
          scopes,
          ownerUserId,
          ownerServiceAccountId,
          expiresAt: req.expiresAt ?? null,
        },
        now,
      );
      await this.d.audit.record(tx, {
        eventType: "api_key.create",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "api_key",
        targetId: created.id,
        details: { organization_id: grant.organization.id, scopes: scopes.join(",") },
      });
      return created;
    });
    return { row, secret };
  }

  /** The principal for a presented key, or UNAUTHENTICATED; faults propagate (UNAVAILABLE). */
  async authenticate(key: string): Promise<{ principal: MachinePrincipal; row: ApiKeyRow }> {
    if (!isApiKeyFormat(key)) throw unauthenticated("API_KEY_INVALID", "invalid API key");
    const hash = sha256Hex(key);
    return this.resolve(`hash:${hash}`, async () => {
      const row = await this.d.store.apiKeys.findByHash(hash);
      return row && constantTimeEqual(row.keyHash, hash) ? row : undefined;
    });
  }

  /** The principal behind a key-bound session token (ValidateApiKey's issue_session_token). */
  async authenticateById(id: string): Promise<MachinePrincipal> {
    if (!isUuid(id)) throw unauthenticated("API_KEY_INVALID", "invalid API key");
    return (await this.resolve(`id:${id}`, () => this.d.store.apiKeys.findById(id))).principal;
  }

  /** Looks a key up (cached briefly, dropped on any change) and checks it and its owner are live. */
  private async resolve(cacheKey: string, load: () => Promise<ApiKeyRow | undefined>): Promise<ResolvedKey> {
    const hit = this.cache.get(cacheKey);
    if (hit && this.liveReason(hit.row) === undefined) return hit;
    this.cache.delete(cacheKey);
    const row = await load();
    if (!row) throw unauthenticated("API_KEY_INVALID", "invalid API key");
    const dead = this.liveReason(row) ?? (await this.ownerDeadReason(row));
    if (dead) throw unauthenticated(dead, "API key is no longer valid");
    const principal: MachinePrincipal = {
      kind: "api_key",
      id: row.id,
      organizationId: row.organizationId,
      scopes: row.scopes as ApiScope[],
      ownerUserId: row.ownerUserId ?? undefined,
      ownerServiceAccountId: row.ownerServiceAccountId ?? undefined,
    };
    this.cache.set(cacheKey, { principal, row });
    await this.touch(row.id);
    return { principal, row };
  }

  async revoke(caller: Principal, id: string, meta: RequestMeta): Promise<void> {
    const row = await this.authorizedKey(caller, id);
    await this.d.store.transaction(async (tx) => {
      const revoked = await tx.apiKeys.revoke(row.id, this.d.clock.now());
      if (!revoked) throw new DomainError("failed_precondition", "API_KEY_REVOKED", "the key is already revoked");
      await this.d.audit.record(tx, { eventType: "api_key.revoke", outcome: "success", ...auditActor(caller, meta), targetType: "api_key", targetId: row.id });
    });
    await this.d.bus.publish([{ topic: "api_key", id: row.id }]);
  }

  /** Issues the replacement and schedules the old key's end in one transaction. */
  async rotate(caller: Principal, id: string, overlapSeconds: number, meta: RequestMeta): Promise<{ row: ApiKeyRow; secret: string }> {
    if (overlapSeconds < 0 || overlapSeconds > MAX_OVERLAP_SECONDS) throw invalidArgument("overlap_seconds", `must be 0 to ${MAX_OVERLAP_SECONDS}`);
    // A key may replace itself (it is then revoked); any other rotation is a person's.
    if (caller.kind !== "user" && !(caller.kind === "api_key" && caller.id === id))
      throw permissionDenied("USER_SESSION_REQUIRED", "a credential may rotate only itself; other keys are rotated by signed-in users");
    const old = await this.authorizedKey(caller, id);
    const secret = newApiKey();
    const now = this.d.clock.now();
    const row = await this.d.store.transaction(async (tx) => {
      const created = await tx.apiKeys.create(
        {
          organizationId: old.organizationId,
          name: old.name,
          keyHash: sha256Hex(secret),
          prefix: displayPrefix(secret),
          scopes: old.scopes,
          ownerUserId: old.ownerUserId,
          ownerServiceAccountId: old.ownerServiceAccountId,
          expiresAt: old.expiresAt,
        },
        now,
      );
      const claimed = await tx.apiKeys.claimForRotation(old.id, created.id, new Date(now.getTime() + overlapSeconds * 1000));
      if (!claimed) throw new DomainError("failed_precondition", "API_KEY_ALREADY_ROTATED", "the key was already rotated or revoked");
      await this.d.audit.record(tx, {
        eventType: "api_key.rotate",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "api_key",
        targetId: old.id,
        details: { new_key_id: created.id, overlap_seconds: String(overlapSeconds) },
      });
      return created;
    });
    await this.d.bus.publish([{ topic: "api_key", id: old.id }]);
    return { row, secret };
  }

  async list(caller: Principal, grant: OrgGrant, req: { pageSize: number; pageToken: string }): Promise<{ items: ApiKeyRow[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const seesAll = roleAtLeast(grant.role, "admin") || hasSystemAccess(caller);
    const ownerUserId = seesAll ? undefined : caller.kind === "user" ? caller.userId : (caller.ownerUserId ?? "00000000-0000-0000-0000-000000000000");
    const rows = await this.d.store.apiKeys.list(grant.organization.id, size + 1, { ownerUserId, cursor: decodeCreatedCursor(req.pageToken) });
    return pageOf(rows, size, createdCursorOf);
  }

  /**
   * The key if the caller may manage it: its owner, or an admin of its organization. Anyone else
   * hears PERMISSION_DENIED, whether or not the id exists.
   */
  private async authorizedKey(caller: Principal, id: string): Promise<ApiKeyRow> {
    const row = await this.d.store.apiKeys.findById(id);
    const denied = () => permissionDenied("API_KEY_ACCESS_DENIED", "not allowed to manage this key");
    if (!row) {
      if (hasSystemAccess(caller)) throw notFound("API_KEY_NOT_FOUND", "api key");
      throw denied();
    }
    const ownKey = caller.kind === "user" ? row.ownerUserId === caller.userId : caller.kind === "api_key" && caller.id === row.id;
    if (ownKey || hasSystemAccess(caller)) {
      // As for every org-scoped call: nothing changes in a suspended organization.
      if ((await this.d.store.orgs.findById(row.organizationId))?.suspended)
        throw new DomainError("permission_denied", "ORGANIZATION_SUSPENDED", "the organization is suspended");
      return row;
    }
    const grant = await this.d.orgAccess.require(caller, row.organizationId, "admin").catch((err: unknown) => {
      // Raised only after the caller's admin role was confirmed, so it reveals nothing to others.
      if (err instanceof DomainError && err.reason === "ORGANIZATION_SUSPENDED") throw err;
      return undefined;
    });
    if (!grant) throw denied();
    return row;
  }

  liveReason(row: ApiKeyRow): "API_KEY_REVOKED" | "API_KEY_EXPIRED" | undefined {
    const now = this.d.clock.now();
    if (row.revokedAt && row.revokedAt <= now) return "API_KEY_REVOKED";
    if (row.expiresAt && row.expiresAt <= now) return "API_KEY_EXPIRED";
    return undefined;
  }

  private async ownerDeadReason(
    row: ApiKeyRow,
  ): Promise<"ORGANIZATION_DELETED" | "ORGANIZATION_SUSPENDED" | "OWNER_DISABLED" | "OWNER_NOT_MEMBER" | undefined> {
    const org = await this.d.store.orgs.findById(row.organizationId);
    if (!org) return "ORGANIZATION_DELETED";
    if (org.suspended) return "ORGANIZATION_SUSPENDED";
    if (row.ownerUserId) {
      const user = await this.d.store.users.findById(row.ownerUserId);
      if (!user || user.disabled) return "OWNER_DISABLED";
      if (!(await this.d.store.orgs.membership(row.organizationId, row.ownerUserId))) return "OWNER_NOT_MEMBER";
    }
    if (row.ownerServiceAccountId) {
      const sa = await this.d.store.serviceAccounts.findById(row.ownerServiceAccountId);
      if (!sa || sa.disabled) return "OWNER_DISABLED";
    }
    return undefined;
  }

  private async touch(id: string): Promise<void> {
    if (this.touched.get(id)) return;
    this.touched.set(id, true);
    await this.d.store.apiKeys.touch(id, this.d.clock.now());
  }
}

export function checkScopes(scopes: ApiScope[]): ApiScope[] {
  const unique = [...new Set(scopes)];
  if (unique.length === 0) throw invalidArgument("scopes", "at least one scope is required");
  return unique;
}
