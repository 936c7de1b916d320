import type { Clock } from "../../clock.js";
import { constantTimeEqual, randomHex, randomToken, sha256Hex } from "../../crypto/random.js";
import type { TokenService } from "../../crypto/token-service.js";
import type { Db } from "../../db/client.js";
import type { ApiKeyRepository } from "../../db/repositories/api-key-repository.js";
import type { OrganizationRepository } from "../../db/repositories/organization-repository.js";
import type { ServiceAccountRepository } from "../../db/repositories/service-account-repository.js";
import { isUuid } from "../../db/repositories/user-repository.js";
import type { ServiceAccountRow } from "../../db/schema/index.js";
import { checkScopes } from "../apikey/api-keys.js";
import { randomBase62 } from "../apikey/api-key-format.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { invalidArgument, notFound, unauthenticated } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import type { OrgGrant } from "../org/org-access.js";
import { auditActor } from "../audit/audit-actor.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { ApiScope, MachinePrincipal, Principal } from "../principal.js";

export interface ServiceAccountDeps {
  db: Db;
  clock: Clock;
  accounts: ServiceAccountRepository;
  keys: ApiKeyRepository;
  orgs: OrganizationRepository;
  tokens: TokenService;
  audit: AuditLog;
  bus: InvalidationBus;
  cacheTtlSeconds: number;
}

export const SERVICE_ACCOUNT_TOKEN_TTL_SECONDS = 3600;
const CLIENT_ID = /^sa_[A-Za-z0-9]{16}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** Machine identities of an organization, trading client id + secret for one-hour tokens. */
export class ServiceAccounts {
  private readonly cache = new Map<string, { row: ServiceAccountRow; at: number }>();

  constructor(private readonly d: ServiceAccountDeps) {
    d.bus.subscribe((tag) => {
      if (tag.startsWith("service_account:")) this.cache.delete(tag.slice(16));
      else if (tag.startsWith("org:")) for (const [id, e] of this.cache) if (e.row.organizationId === tag.slice(4)) this.cache.delete(id);
    });
  }

  async create(
    caller: Principal,
    grant: OrgGrant,
    req: { name: string; scopes: ApiScope[] },
    meta: RequestMeta,
  ): Promise<{ row: ServiceAccountRow; secret: string }> {
    const name = checkName(req.name);
    const scopes = checkScopes(req.scopes);
    const secret = randomToken(32);
    const row = await this.d.db.transaction(async (tx) => {
      const created = await this.d.accounts.create(
        tx,
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
    const row = CLIENT_ID.test(clientId) && SECRET.test(secret) ? await this.d.accounts.findByClientId(this.d.db, clientId) : undefined;
    // Compare even when no account matched, so the time taken tells nothing.
    const matches = constantTimeEqual(row?.secretHash ?? "0".repeat(64), sha256Hex(secret));
    const dead = !row || !matches ? "bad_credentials" : await this.deadReason(row);
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
      sid: `sat_${randomHex(12)}`,
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
  async principalFor(serviceAccountId: string): Promise<MachinePrincipal> {
    const nowMs = this.d.clock.now().getTime();
    let entry = this.cache.get(serviceAccountId);
    if (!entry || nowMs - entry.at >= this.d.cacheTtlSeconds * 1000) {
      const row = await this.d.accounts.findById(this.d.db, serviceAccountId);
      if (!row) throw unauthenticated("SERVICE_ACCOUNT_DELETED", "service account no longer exists");
      const dead = await this.deadReason(row);
      if (dead) throw unauthenticated(dead.toUpperCase(), "service account may not sign in");
      entry = { row, at: nowMs };
      this.cache.set(serviceAccountId, entry);
    }
    return {
      kind: "service_account",
      id: entry.row.id,
      organizationId: entry.row.organizationId,
      scopes: entry.row.scopes as ApiScope[],
      ownerServiceAccountId: entry.row.id,
    };
  }

  async get(grant: OrgGrant, id: string): Promise<ServiceAccountRow> {
    const row = isUuid(id) ? await this.d.accounts.findById(this.d.db, id) : undefined;
    // Another tenant's account is "not found" here: the caller's own organization was checked.
    if (!row || row.organizationId !== grant.organization.id) throw notFound("service account");
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
    if (req.name !== undefined) set.name = checkName(req.name);
    if (req.scopes !== undefined) set.scopes = checkScopes(req.scopes);
    if (req.disabled !== undefined) set.disabled = req.disabled;
    const row = await this.d.db.transaction(async (tx) => {
      const updated = await this.d.accounts.update(tx, id, set, this.d.clock.now());
      if (!updated) throw notFound("service account");
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
    await this.d.bus.publish([`service_account:${id}`]);
    return row;
  }

  async delete(caller: Principal, grant: OrgGrant, id: string, meta: RequestMeta): Promise<void> {
    await this.get(grant, id);
    const revokedKeys = await this.d.db.transaction(async (tx) => {
      const now = this.d.clock.now();
      await this.d.accounts.update(tx, id, { deletedAt: now, disabled: true }, now);
      const keys = await this.d.keys.revokeAllOfServiceAccount(tx, id, now);
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
    await this.d.bus.publish([`service_account:${id}`, ...revokedKeys.map((k) => `api_key:${k}`)]);
  }

  async rotateSecret(caller: Principal, grant: OrgGrant, id: string, meta: RequestMeta): Promise<{ row: ServiceAccountRow; secret: string }> {
    await this.get(grant, id);
    const secret = randomToken(32);
    const row = await this.d.db.transaction(async (tx) => {
      const updated = await this.d.accounts.update(tx, id, { secretHash: sha256Hex(secret) }, this.d.clock.now());
      if (!updated) throw notFound("service account");
      await this.d.audit.record(tx, {
        eventType: "service_account.rotate_secret",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "service_account",
        targetId: id,
      });
      return updated;
    });
    return { row, secret };
  }

  async list(grant: OrgGrant, req: { pageSize: number; pageToken: string }): Promise<{ items: ServiceAccountRow[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const rows = await this.d.accounts.list(this.d.db, grant.organization.id, size + 1, decodeCreatedCursor(req.pageToken));
    return pageOf(rows, size, createdCursorOf);
  }

  private async deadReason(row: ServiceAccountRow): Promise<string | undefined> {
    if (row.disabled) return "service_account_disabled";
    const org = await this.d.orgs.findById(this.d.db, row.organizationId);
    if (!org) return "organization_deleted";
    if (org.suspended) return "organization_suspended";
    return undefined;
  }
}

function checkName(name: string): string {
  const clean = name.trim();
  if (!clean || [...clean].length > 100) throw invalidArgument("name", "is required, at most 100 characters");
  return clean;
}
