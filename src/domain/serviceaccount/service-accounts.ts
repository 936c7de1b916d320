import type { Clock } from "../../clock.js";
import { constantTimeEqual, randomHex, randomToken, sha256Hex } from "../../crypto/random.js";
import type { TokenService } from "../../crypto/token-service.js";
import type { BoundedCache } from "../cache/bounded-cache.js";
import type { Caches } from "../cache/caches.js";
import type { ServiceAccountRow } from "../records.js";
import type { ApiKeyStore } from "../store/api-key-store.js";
import type { AuditStore } from "../store/audit-store.js";
import type { OrganizationStore } from "../store/organization-store.js";
import type { ServiceAccountStore } from "../store/service-account-store.js";
import type { Ports } from "../store/transactional.js";
import { checkScopes } from "../apikey/api-keys.js";
import { randomBase62 } from "../apikey/api-key-format.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { notFound, permissionDenied, unauthenticated } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import type { OrgGrant } from "../org/org-access.js";
import { auditActor } from "../audit/audit-actor.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { ApiScope, MachinePrincipal, Principal } from "../principal.js";

export interface ServiceAccountDeps {
  store: Ports<{
    serviceAccounts: ServiceAccountStore;
    apiKeys: Pick<ApiKeyStore, "revokeAllOfServiceAccount">;
    orgs: Pick<OrganizationStore, "findById">;
    audit: Pick<AuditStore, "append">;
  }>;
  clock: Clock;
  tokens: TokenService;
  audit: AuditLog;
  bus: InvalidationBus;
  caches: Caches;
}

export const SERVICE_ACCOUNT_TOKEN_TTL_SECONDS = 3600;
const CLIENT_ID = /^sa_[A-Za-z0-9]{16}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** Machine identities of an organization, trading client id + secret for one-hour tokens. */
export class ServiceAccounts {
  /** Live service accounts behind verified tokens, dropped when they or their organization change. */
  private readonly cache: BoundedCache<string, ServiceAccountRow>;

  constructor(private readonly d: ServiceAccountDeps) {
    this.cache = d.caches.create("service_accounts");
    d.bus.on("service_account", (id) => this.cache.delete(id));
    d.bus.on("org", (id) => this.cache.deleteWhere((row) => row.organizationId === id));
  }

  async create(
    caller: Principal,
    grant: OrgGrant,
    req: { name: string; scopes: ApiScope[] },
    meta: RequestMeta,
  ): Promise<{ row: ServiceAccountRow; secret: string }> {
    if (caller.kind !== "user") throw permissionDenied("USER_SESSION_REQUIRED", "credentials are created by signed-in users, not by other credentials");
    const name = req.name.trim();
    const scopes = checkScopes(req.scopes);
    const secret = randomToken(32);
    const row = await this.d.store.transaction(async (tx) => {
      const created = await tx.serviceAccounts.create(
        { organizationId: grant.organization.id, clientId: `sa_${randomBase62(16)}`, name, secretHash: sha256Hex(secret), scopes },
        this.d.clock.now(),
      );
      await this.d.audit.record(tx, {
        eventType: "service_account.create",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "service_account",
        targetId: created.id,
        details: { organization_id: grant.organization.id, scopes: scopes.join(",") },
      });
      return created;
    });
    return { row, secret };
  }

  /** client_id + secret -> a one-hour access token; every failure looks the same. */
  async authenticate(clientId: string, secret: string, meta: RequestMeta): Promise<{ token: string; expiresAt: Date; row: ServiceAccountRow }> {
    const row = CLIENT_ID.test(clientId) && SECRET.test(secret) ? await this.d.store.serviceAccounts.findByClientId(clientId) : undefined;
    // Compare even when no account matched, so the time taken tells nothing.
    const matches = constantTimeEqual(row?.secretHash ?? "0".repeat(64), sha256Hex(secret));
    const dead = !row || !matches ? "bad_credentials" : (await this.deadReason(row))?.toLowerCase();
    if (dead) {
      await this.d.audit.recordAlone({
        eventType: "service_account.authenticate",
        outcome: "failure",
        actorType: "service_account",
        actorId: row?.id ?? "",
        targetType: "service_account",
        targetId: row?.id ?? "",
        details: { reason: dead },
        clientIp: meta.clientIp,
        requestId: meta.requestId,
      });
      throw unauthenticated("INVALID_CLIENT_CREDENTIALS", "invalid client credentials");
    }
    const issued = await this.d.tokens.issue({
      sub: row!.id,
      sid: serviceAccountTokenId(row!),
      tokenType: "service_account",
      ttlSeconds: SERVICE_ACCOUNT_TOKEN_TTL_SECONDS,
    });
    await this.d.audit.recordAlone({
      eventType: "service_account.authenticate",
      outcome: "success",
      actorType: "service_account",
      actorId: row!.id,
      targetType: "service_account",
      targetId: row!.id,
      clientIp: meta.clientIp,
      requestId: meta.requestId,
    });
    return { ...issued, row: row! };
  }

  /** The principal behind a verified service-account token, checked live (cached briefly). */
  async principalFor(serviceAccountId: string, tokenId: string): Promise<MachinePrincipal> {
    let row = this.cache.get(serviceAccountId);
    // A token of a newer secret than the cached row's: this instance missed the rotation, read again.
    if (row && secretGenerationOf(tokenId) !== secretGeneration(row)) row = undefined;
    if (!row) {
      row = await this.d.store.serviceAccounts.findById(serviceAccountId);
      if (!row) throw unauthenticated("SERVICE_ACCOUNT_DELETED", "service account no longer exists");
      const dead = await this.deadReason(row);
      if (dead) throw unauthenticated(dead, "service account may not sign in");
      this.cache.set(serviceAccountId, row);
    }
    // Tokens issued under an earlier secret ended with it.
    if (secretGenerationOf(tokenId) !== secretGeneration(row))
      throw unauthenticated("SERVICE_ACCOUNT_SECRET_ROTATED", "the service account's secret was rotated after this token was issued");
    return { kind: "service_account", id: row.id, organizationId: row.organizationId, scopes: row.scopes as ApiScope[], ownerServiceAccountId: row.id };
  }

  async get(grant: OrgGrant, id: string): Promise<ServiceAccountRow> {
    const row = await this.d.store.serviceAccounts.findById(id);
    // Another tenant's account is "not found" here: the caller's own organization was checked.
    if (!row || row.organizationId !== grant.organization.id) throw notFound("SERVICE_ACCOUNT_NOT_FOUND", "service account");
    return row;
  }

  async update(
    caller: Principal,
    grant: OrgGrant,
    id: string,
    req: { name?: string; scopes?: ApiScope[]; disabled?: boolean },
    meta: RequestMeta,
  ): Promise<ServiceAccountRow> {
    await this.get(grant, id);
    const set: { name?: string; scopes?: string[]; disabled?: boolean } = {};
    if (req.name !== undefined) set.name = req.name.trim();
    if (req.scopes !== undefined) set.scopes = checkScopes(req.scopes);
    if (req.disabled !== undefined) set.disabled = req.disabled;
    const row = await this.d.store.transaction(async (tx) => {
      const updated = await tx.serviceAccounts.update(id, set, this.d.clock.now());
      if (!updated) throw notFound("SERVICE_ACCOUNT_NOT_FOUND", "service account");
      await this.d.audit.record(tx, {
        eventType: "service_account.update",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "service_account",
        targetId: id,
        details: Object.fromEntries(Object.entries(set).map(([k, v]) => [k, String(v)])),
      });
      return updated;
    });
    await this.d.bus.publish([{ topic: "service_account", id }]);
    return row;
  }

  async delete(caller: Principal, grant: OrgGrant, id: string, meta: RequestMeta): Promise<void> {
    await this.get(grant, id);
    const revokedKeys = await this.d.store.transaction(async (tx) => {
      const now = this.d.clock.now();
      await tx.serviceAccounts.update(id, { deletedAt: now, disabled: true }, now);
      const keys = await tx.apiKeys.revokeAllOfServiceAccount(id, now);
      await this.d.audit.record(tx, {
        eventType: "service_account.delete",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "service_account",
        targetId: id,
        details: { revoked_api_keys: String(keys.length) },
      });
      return keys;
    });
    await this.d.bus.publish([{ topic: "service_account", id }, ...revokedKeys.map((k) => ({ topic: "api_key" as const, id: k }))]);
  }

  /** A new secret; every token issued under the old one stops working at once, on every instance. */
  async rotateSecret(caller: Principal, grant: OrgGrant, id: string, meta: RequestMeta): Promise<{ row: ServiceAccountRow; secret: string }> {
    if (caller.kind !== "user") throw permissionDenied("USER_SESSION_REQUIRED", "credentials are created by signed-in users, not by other credentials");
    await this.get(grant, id);
    const secret = randomToken(32);
    const row = await this.d.store.transaction(async (tx) => {
      const now = this.d.clock.now();
      const updated = await tx.serviceAccounts.update(id, { secretHash: sha256Hex(secret), secretRotatedAt: now }, now);
      if (!updated) throw notFound("SERVICE_ACCOUNT_NOT_FOUND", "service account");
      await this.d.audit.record(tx, {
        eventType: "service_account.rotate_secret",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "service_account",
        targetId: id,
      });
      return updated;
    });
    await this.d.bus.publish([{ topic: "service_account", id }]);
    return { row, secret };
  }

  async list(grant: OrgGrant, req: { pageSize: number; pageToken: string }): Promise<{ items: ServiceAccountRow[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const rows = await this.d.store.serviceAccounts.list(grant.organization.id, size + 1, decodeCreatedCursor(req.pageToken));
    return pageOf(rows, size, createdCursorOf);
  }

  private async deadReason(row: ServiceAccountRow): Promise<"SERVICE_ACCOUNT_DISABLED" | "ORGANIZATION_DELETED" | "ORGANIZATION_SUSPENDED" | undefined> {
    if (row.disabled) return "SERVICE_ACCOUNT_DISABLED";
    const org = await this.d.store.orgs.findById(row.organizationId);
    if (!org) return "ORGANIZATION_DELETED";
    if (org.suspended) return "ORGANIZATION_SUSPENDED";
    return undefined;
  }
}

/** Which secret a service account has now: when it was last rotated (0 for the first one). */
function secretGeneration(row: Pick<ServiceAccountRow, "secretRotatedAt">): string {
  return String(row.secretRotatedAt?.getTime() ?? 0);
}

/** A token's id names the secret it was issued under: `sat_<generation>_<random>`. */
function serviceAccountTokenId(row: ServiceAccountRow): string {
  return `sat_${secretGeneration(row)}_${randomHex(12)}`;
}

/** The secret generation a token id names; ids from before generations were recorded (`sat_<random>`) name the first. */
function secretGenerationOf(tokenId: string): string {
  return /^sat_(\d+)_[0-9a-f]+$/.exec(tokenId)?.[1] ?? "0";
}
