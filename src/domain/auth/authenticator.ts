import type { TokenService } from "../../crypto/token-service.js";
import type { ApiKeys } from "../apikey/api-keys.js";
import { API_KEY_PREFIX } from "../apikey/api-key-format.js";
import { DomainError, unauthenticated } from "../errors.js";
import type { MachinePrincipal, Principal, UserPrincipal } from "../principal.js";
import type { RoleCatalog } from "../rbac/role-catalog.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import type { ServiceAccounts } from "../serviceaccount/service-accounts.js";
import type { LiveSession, SessionManager } from "../session/session-manager.js";
import type { LockRegistry } from "../lock/lock-registry.js";
import type { AccessGrants } from "../access/access-grants.js";

export interface Authenticator {
  /** Resolves a bearer credential to a principal, or throws UNAUTHENTICATED. */
  authenticate(bearer: string, clientIp?: string): Promise<Principal>;
}

export interface AuthenticatorDeps {
  tokens: TokenService;
  sessions: SessionManager;
  apiKeys: ApiKeys;
  serviceAccounts: ServiceAccounts;
  roles: RoleCatalog;
  limiter: BruteForce;
  /** Admins' locks: a locked user (role, device, key owner) is refused at every call. */
  locks: Pick<LockRegistry, "requireUnlocked">;
  /** Approved access requests: their roles are the user's until they expire or are cancelled. */
  grants: Pick<AccessGrants, "rolesOf">;
}

/** One place that knows every bearer form: API key, session bearer, user or service-account JWT. */
export function createAuthenticator(d: AuthenticatorDeps): Authenticator {
  const userPrincipalOf = async (live: LiveSession, credential: UserPrincipal["credential"]): Promise<UserPrincipal> => {
    // Judged at this call by the clock: an expired or cancelled grant is gone from it.
    const roles = d.grants.rolesOf(live.user.id, live.user.roles);
    d.locks.requireUnlocked({ userId: live.user.id, roles, deviceId: live.session.deviceId ?? undefined });
    return {
      kind: "user",
      userId: live.user.id,
      sessionId: live.session.id,
      roles,
      permissions: await d.roles.permissionsOf(roles),
      systemAccess: false,
      credential,
      mfaAt: live.session.mfaAt ?? undefined,
      traits: live.user.traits,
    };
  };
  /** A user-owned key acts for its owner: the owner's lock covers it. */
  const keyUnlocked = (p: MachinePrincipal): MachinePrincipal => {
    if (p.ownerUserId) d.locks.requireUnlocked({ userId: p.ownerUserId });
    return p;
  };
  return {
    async authenticate(bearer, clientIp = "") {
      if (bearer.startsWith(API_KEY_PREFIX)) {
        // Guessing keys costs the guesser's network budget; over it, no lookup at all.
        await d.limiter.checkNetwork("api_key", clientIp);
        try {
          return keyUnlocked((await d.apiKeys.authenticate(bearer)).principal);
        } catch (err) {
          if (err instanceof DomainError && err.kind === "unauthenticated") await d.limiter.networkFailed("api_key", clientIp);
          throw err;
        }
      }
      if (d.sessions.isSessionBearer(bearer)) return userPrincipalOf(await d.sessions.requireLiveBearer(bearer), "session");
      const claims = await d.tokens.verify(bearer, ["access", "service_account", "api_key"]);
      if (claims.tokenType === "service_account") return d.serviceAccounts.principalFor(claims.sub, claims.sid);
      if (claims.tokenType === "api_key") return keyUnlocked(await d.apiKeys.authenticateById(claims.sub));
      const live = await d.sessions.requireLive(claims.sid);
      if (live.session.userId !== claims.sub) throw unauthenticated("TOKEN_INVALID", "invalid token");
      return userPrincipalOf(live, "access_token");
    },
  };
}
