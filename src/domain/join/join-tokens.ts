import type { Clock } from "../../clock.js";
import { sha256Hex } from "../../crypto/random.js";
import { auditActor } from "../audit/audit-actor.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound, unauthenticated } from "../errors.js";
import { createdCursorOf, decodeCreatedCursor, pageOf, pageSize } from "../pagination.js";
import type { Principal } from "../principal.js";
import type { JoinTokenRow } from "../records.js";
import type { JoinTokenStore } from "../store/join-store.js";
import type { Ports } from "../store/transactional.js";
import type { AuditStore } from "../store/audit-store.js";
import { isJoinTokenFormat, newJoinToken } from "./join-secrets.js";

export type JoinMethod = "token" | "iam";

export interface NewJoinToken {
  roles: string[];
  uses: number;
  ttlSeconds?: number;
  labels: Record<string, string>;
  joinMethod: JoinMethod;
  allow: { awsAccount: string; awsArn: string }[];
}

export interface JoinTokensDeps {
  store: Ports<{ joinTokens: JoinTokenStore; audit: AuditStore }>;
  clock: Clock;
  audit: AuditLog;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
}

/** Whether a token admits nothing more: past its expiry, or out of uses. */
export function isSpent(row: JoinTokenRow, now: Date): boolean {
  return row.usesRemaining <= 0 || row.expiresAt.getTime() <= now.getTime();
}

/**
 * Join tokens: admins make, list and delete them; joins resolve the secret a node presents.
 * Only the secret's SHA-256 is stored, so the database alone cannot join a node.
 */
export class JoinTokens {
  constructor(private readonly d: JoinTokensDeps) {}

  async create(caller: Principal, req: NewJoinToken, meta: RequestMeta): Promise<{ token: string; row: JoinTokenRow }> {
    const ttl = req.ttlSeconds ?? this.d.defaultTtlSeconds;
    if (ttl <= 0) throw invalidArgument("ttl", "must be positive");
    if (ttl > this.d.maxTtlSeconds) throw invalidArgument("ttl", `must be at most ${this.d.maxTtlSeconds} seconds (join_token_max_ttl)`);
    if (req.joinMethod === "iam" && req.allow.length === 0) throw invalidArgument("allow", "an IAM join token needs at least one rule");
    if (req.joinMethod === "token" && req.allow.length > 0) throw invalidArgument("allow", "rules are only for IAM join tokens");
    const token = newJoinToken();
    const now = this.d.clock.now();
    const uses = req.uses || 1;
    const row = await this.d.store.transaction(async (tx) => {
      const created = await tx.joinTokens.create({
        tokenHash: sha256Hex(token),
        roles: req.roles.length ? req.roles : ["node"],
        uses,
        usesRemaining: uses,
        expiresAt: new Date(now.getTime() + ttl * 1000),
        labels: req.labels,
        joinMethod: req.joinMethod,
        allow: req.allow,
        createdBy: caller.kind === "user" ? caller.userId : caller.id,
        createdAt: now,
      });
      await this.d.audit.record(tx, {
        eventType: "join_token.create",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "join_token",
        targetId: created.id,
        details: { roles: created.roles.join(","), uses: String(uses), join_method: req.joinMethod, expires_at: created.expiresAt.toISOString() },
      });
      return created;
    });
    return { token, row };
  }

  async list(pageSizeRequested: number, pageToken: string): Promise<{ items: JoinTokenRow[]; nextPageToken: string }> {
    const size = pageSize(pageSizeRequested);
    const rows = await this.d.store.joinTokens.list(size + 1, decodeCreatedCursor(pageToken));
    return pageOf(rows, size, createdCursorOf);
  }

  async delete(caller: Principal, id: string, meta: RequestMeta): Promise<void> {
    await this.d.store.transaction(async (tx) => {
      const deleted = await tx.joinTokens.delete(id);
      if (!deleted) throw notFound("NOT_FOUND", "join token");
      await this.d.audit.record(tx, {
        eventType: "join_token.delete",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "join_token",
        targetId: id,
      });
    });
  }

  /**
   * The token a join presents, checked: known, not expired, with a use left. `lock` reads it
   * locked within the caller's transaction (store `tx`), so joins on one token take turns.
   */
  async resolve(secret: string, store: { joinTokens: JoinTokenStore } = this.d.store, opts: { lock?: boolean } = {}): Promise<JoinTokenRow> {
    if (!isJoinTokenFormat(secret)) throw unauthenticated("JOIN_TOKEN_INVALID", "unknown join token");
    const hash = sha256Hex(secret);
    const row = opts.lock ? await store.joinTokens.lockByHash(hash) : await store.joinTokens.findByHash(hash);
    if (!row) throw unauthenticated("JOIN_TOKEN_INVALID", "unknown join token");
    if (row.expiresAt.getTime() <= this.d.clock.now().getTime()) throw unauthenticated("JOIN_TOKEN_EXPIRED", "the join token has expired");
    if (row.usesRemaining <= 0) throw unauthenticated("JOIN_TOKEN_USED_UP", "the join token has no use left");
    return row;
  }

  /** Refuses a token made for another join method. */
  static requireMethod(row: JoinTokenRow, method: JoinMethod): void {
    if (row.joinMethod !== method)
      throw new DomainError("failed_precondition", "JOIN_METHOD_MISMATCH", `this join token is for the ${row.joinMethod} join method`);
  }
}
