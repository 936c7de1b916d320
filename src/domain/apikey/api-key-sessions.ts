import { randomHex } from "../../crypto/random.js";
import type { TokenService } from "../../crypto/token-service.js";
import type { ApiKeyRow } from "../records.js";

export const API_KEY_SESSION_TTL_SECONDS = 3600;

/**
 * ValidateApiKey's optional one-hour token. It stands for the key, not for the key's owner:
 * the same organization, the same scopes, and it stops working when the key does.
 */
export class ApiKeySessions {
  constructor(private readonly tokens: TokenService) {}

  issue(key: ApiKeyRow): Promise<{ token: string; expiresAt: Date }> {
    return this.tokens.issue({ sub: key.id, sid: `akt_${randomHex(12)}`, tokenType: "api_key", ttlSeconds: API_KEY_SESSION_TTL_SECONDS });
  }
}
