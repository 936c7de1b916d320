import { randomHex } from "../../crypto/random.js";
import type { TokenService } from "../../crypto/token-service.js";
import type { Db } from "../../db/client.js";
import type { ApiKeyRow } from "../../db/schema/index.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import type { SessionManager } from "../session/session-manager.js";

export const API_KEY_SESSION_TTL_SECONDS = 3600;

/**
 * ValidateApiKey's optional one-hour token: for a user's key, a real session of that user
 * (revocable like any other); for a service account's key, a service-account token.
 */
export class ApiKeySessions {
  constructor(
    private readonly db: Db,
    private readonly sessions: SessionManager,
    private readonly tokens: TokenService,
    private readonly audit: AuditLog,
  ) {}

  async issue(key: ApiKeyRow, meta: RequestMeta): Promise<{ token: string; expiresAt: Date }> {
    if (key.ownerServiceAccountId)
      return this.tokens.issue({ sub: key.ownerServiceAccountId, sid: `sat_${randomHex(12)}`, tokenType: "service_account", ttlSeconds: API_KEY_SESSION_TTL_SECONDS });
    const userId = key.ownerUserId!;
    const created = await this.db.transaction(async (tx) => {
      const c = await this.sessions.create(tx, { userId, authMethod: "api_key", clientIp: meta.clientIp, userAgent: meta.userAgent, ttlSeconds: API_KEY_SESSION_TTL_SECONDS });
      await this.audit.record(tx, { eventType: "auth.login", outcome: "success", actorType: "api_key", actorId: key.id, targetType: "session", targetId: c.session.id, details: { method: "api_key" }, clientIp: meta.clientIp, requestId: meta.requestId });
      return c;
    });
    return this.tokens.issue({ sub: userId, sid: created.session.id, tokenType: "access", ttlSeconds: API_KEY_SESSION_TTL_SECONDS, amr: ["api_key"] });
  }
}
