import type { Interceptor } from "@connectrpc/connect";
import { kClientIp, kPrincipal } from "../context.js";
import type { TokenService } from "../crypto/token-service.js";
import type { ApiKeys } from "../domain/apikey/api-keys.js";
import { API_KEY_PREFIX } from "../domain/apikey/api-key-format.js";
import type { BruteForce } from "../domain/ratelimit/brute-force.js";
import { DomainError, unauthenticated } from "../domain/errors.js";
import type { Principal, UserPrincipal } from "../domain/principal.js";
import type { ServiceAccounts } from "../domain/serviceaccount/service-accounts.js";
import type { LiveSession, SessionManager } from "../domain/session/session-manager.js";
import { Access } from "../../gen/warden/options/v1/options_pb.js";
import { policyOf } from "../policy.js";

export interface Authenticator {
  /** Resolves a bearer credential to a principal, or throws UNAUTHENTICATED. */
  authenticate(bearer: string, clientIp?: string): Promise<Principal>;
}

export interface AuthenticatorDeps {
  tokens: TokenService;
  sessions: SessionManager;
  apiKeys: ApiKeys;
  serviceAccounts: ServiceAccounts;
  limiter: BruteForce;
}

/** One place that knows every bearer form: API key, session bearer, user or service-account JWT. */
export function createAuthenticator(d: AuthenticatorDeps): Authenticator {
  return {
    async authenticate(bearer, clientIp = "") {
      if (bearer.startsWith(API_KEY_PREFIX)) {
        // Guessing keys costs the guesser's network budget; over it, no lookup at all.
        await d.limiter.checkNetwork(clientIp);
        try {
          return (await d.apiKeys.authenticate(bearer)).principal;
        } catch (err) {
          if (err instanceof DomainError && err.kind === "unauthenticated") await d.limiter.networkFailed(clientIp);
          throw err;
        }
      }
      if (d.sessions.isSessionBearer(bearer)) return userPrincipalOf(await d.sessions.requireLiveBearer(bearer), "session");
      const claims = await d.tokens.verify(bearer, ["access", "service_account", "api_key"]);
      if (claims.tokenType === "service_account") return d.serviceAccounts.principalFor(claims.sub);
      if (claims.tokenType === "api_key") return d.apiKeys.authenticateById(claims.sub);
      const live = await d.sessions.requireLive(claims.sid);
      if (live.session.userId !== claims.sub) throw unauthenticated("TOKEN_INVALID", "invalid token");
      return userPrincipalOf(live, "access_token");
    },
  };
}

function userPrincipalOf(live: LiveSession, credential: UserPrincipal["credential"]): UserPrincipal {
  return {
    kind: "user",
    userId: live.user.id,
    sessionId: live.session.id,
    admin: live.user.admin,
    roles: live.user.roles,
    credential,
    mfaAt: live.session.mfaAt ?? undefined,
  };
}

/** Bearer token in `authorization`; case-insensitive scheme, one space, nothing else. */
export function bearerOf(header: string | null): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer ([\x21-\x7e]{1,4096})$/i.exec(header);
  return m?.[1];
}

/**
 * Establishes who is calling for every non-public method. Public methods carry their own
 * credential in the request, so a header there is not looked at.
 */
export function authnInterceptor(auth: Authenticator): Interceptor {
  return (next) => async (req) => {
    const policy = policyOf(req.method);
    if (!policy || policy.access === Access.PUBLIC || policy.access === Access.DEV) return next(req);
    const header = req.header.get("authorization");
    if (header) {
      const bearer = bearerOf(header);
      if (!bearer) throw unauthenticated("AUTHORIZATION_MALFORMED", "authorization header must be 'Bearer <token>'");
      req.contextValues.set(kPrincipal, await auth.authenticate(bearer, req.contextValues.get(kClientIp)));
    }
    return next(req);
  };
}
