import type { Clock } from "../../clock.js";
import { sha256Hex } from "../../crypto/random.js";
import { auditActor } from "../audit/audit-actor.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound, permissionDenied } from "../errors.js";
import { newBootstrapToken } from "../join/join-secrets.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { Principal } from "../principal.js";
import type { RoleCatalog } from "../rbac/role-catalog.js";
import type { AgentIdentityListing, AgentIdentityStore } from "../store/agent-identity-store.js";
import type { AuditStore } from "../store/audit-store.js";
import type { Ports } from "../store/transactional.js";

export interface AgentIdentitiesDeps {
  store: Ports<{ agentIdentities: AgentIdentityStore; audit: AuditStore }>;
  roles: Pick<RoleCatalog, "unknown">;
  clock: Clock;
  audit: AuditLog;
  /** join_token_max_ttl: the longest a bootstrap token may wait to be redeemed. */
  maxBootstrapTtlSeconds: number;
  /** ssh_cert_max_ttl: the longest certificate an identity may be given. */
  maxCertTtlSeconds: number;
}

export interface NewAgentIdentity {
  name: string;
  roles: string[];
  bootstrapTtlSeconds?: number;
  certTtlSeconds?: number;
}

const DEFAULT_TTL_SECONDS = 3600;
const ROLE_ASSIGN = { resource: "role", verb: "assign" } as const;

/**
 * Agent identities (bots), as admins make, list and delete them. Making one returns its
 * bootstrap token once; only the token's SHA-256 is stored.
 */
export class AgentIdentities {
  constructor(private readonly d: AgentIdentitiesDeps) {}

  async create(caller: Principal, req: NewAgentIdentity, meta: RequestMeta): Promise<{ bootstrapToken: string; identity: AgentIdentityListing }> {
    const bootstrapTtl = ttlWithin("bootstrap_ttl", req.bootstrapTtlSeconds, this.d.maxBootstrapTtlSeconds, "join_token_max_ttl");
    const certTtl = ttlWithin("cert_ttl", req.certTtlSeconds, this.d.maxCertTtlSeconds, "ssh_cert_max_ttl");
    const roles = [...new Set(req.roles)];
    // A bot's roles put their logins into certificates: giving it roles is granting them, as for a user.
    if (roles.length > 0 && (caller.kind !== "user" || !caller.permissions.allows(ROLE_ASSIGN)))
      throw permissionDenied("ROLE_ASSIGNMENT_REQUIRED", "giving an agent identity roles needs the role/assign permission");
    if ((await this.d.roles.unknown(roles)).length > 0) throw invalidArgument("roles", "names a role that does not exist", "ROLE_UNKNOWN");

    const bootstrapToken = newBootstrapToken();
    const now = this.d.clock.now();
    const bootstrapExpiresAt = new Date(now.getTime() + bootstrapTtl * 1000);
    const identity = await this.d.store.transaction(async (tx) => {
      const created = await tx.agentIdentities.create({
        name: req.name,
        roles,
        certTtlSeconds: certTtl,
        generation: 0,
        bootstrappedAt: null,
        lastRenewedAt: null,
        lockedAt: null,
        lockReason: null,
        createdBy: caller.kind === "user" ? caller.userId : caller.id,
        createdAt: now,
      });
      if (!created) throw new DomainError("already_exists", "AGENT_IDENTITY_EXISTS", "an agent identity with this name exists");
      await tx.agentIdentities.addToken({
        tokenHash: sha256Hex(bootstrapToken),
        identityId: created.id,
        kind: "bootstrap",
        generation: 0,
        expiresAt: bootstrapExpiresAt,
        usedAt: null,
        createdAt: now,
      });
      await this.d.audit.record(tx, {
        eventType: "agent_identity.create",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "agent_identity",
        targetId: created.id,
        details: {
          name: created.name,
          roles: roles.join(","),
          cert_ttl: String(certTtl),
          bootstrap_expires_at: bootstrapExpiresAt.toISOString(),
        },
      });
      return created;
    });
    return { bootstrapToken, identity: { ...identity, bootstrapExpiresAt } };
  }

  /** Newest first. */
  async list(pageSizeRequested: number, pageToken: string): Promise<{ items: AgentIdentityListing[]; nextPageToken: string }> {
    const size = pageSize(pageSizeRequested);
    const rows = await this.d.store.agentIdentities.list(size + 1, decodeCreatedCursor(pageToken));
    return pageOf(rows, size, createdCursorOf);
  }

  async delete(caller: Principal, id: string, meta: RequestMeta): Promise<void> {
    await this.d.store.transaction(async (tx) => {
      const deleted = await tx.agentIdentities.delete(id);
      if (!deleted) throw notFound("AGENT_IDENTITY_NOT_FOUND", "agent identity");
      await this.d.audit.record(tx, {
        eventType: "agent_identity.delete",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "agent_identity",
        targetId: id,
        details: { name: deleted.name },
      });
    });
  }
}

/** The requested TTL (whole seconds), or the default hour (never past the maximum). */
function ttlWithin(field: string, requested: number | undefined, max: number, setting: string): number {
  if (requested === undefined) return Math.min(DEFAULT_TTL_SECONDS, max);
  if (requested <= 0) throw invalidArgument(field, "must be positive");
  if (requested > max) throw invalidArgument(field, `must be at most ${max} seconds (${setting})`);
  return requested;
}
