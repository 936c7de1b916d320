import type { Interceptor } from "@connectrpc/connect";
import { kPrincipal } from "../context.js";
import type { TokenService } from "../crypto/token-service.js";
import { unauthenticated } from "../domain/errors.js";
import type { UserPrincipal } from "../domain/principal.js";
import type { LiveSession, SessionManager } from "../domain/session/session-manager.js";
import { Access } from "../../gen/warden/options/v1/options_pb.js";
import { policyOf } from "../policy.js";

export interface Authenticator {
  /** Resolves a bearer credential to a principal, or throws UNAUTHENTICATED. */
  authenticate(bearer: string): Promise<UserPrincipal>;
}

export function createAuthenticator(tokens: TokenService, sessions: SessionManager): Authenticator {
  return {
    async authenticate(bearer) {
      if (sessions.isSessionBearer(bearer)) return principalOf(await sessions.requireLiveBearer(bearer), "session");
      const claims = await tokens.verify(bearer, "access");
      const live = await sessions.requireLive(claims.sid);
      if (live.session.userId !== claims.sub) throw unauthenticated("TOKEN_INVALID", "invalid token");
      return principalOf(live, "access_token");
    },
  };
}

function principalOf(live: LiveSession, credential: UserPrincipal["credential"]): UserPrincipal {
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
      req.contextValues.set(kPrincipal, await auth.authenticate(bearer));
    }
    return next(req);
  };
}
