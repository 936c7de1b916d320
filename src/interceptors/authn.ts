import type { Interceptor, StreamRequest, UnaryRequest } from "@connectrpc/connect";
import { Access } from "../../gen/warden/options/v1/options_pb.js";
import { kAgent, kClientIp, kPeerCertificate, kPrincipal } from "../context.js";
import type { AgentCredentials } from "../domain/agent/agent-credentials.js";
import type { WebLogin } from "../domain/auth/web-login.js";
import { sessionCookieOf } from "../http/session-cookie.js";
import type { Authenticator } from "../domain/auth/authenticator.js";
import { unauthenticated } from "../domain/errors.js";
import { policyOf, type PolicyLookup } from "../policy.js";

/** Bearer token in `authorization`; case-insensitive scheme, one space, nothing else. */
export function bearerOf(header: string | null): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer ([\x21-\x7e]{1,4096})$/i.exec(header);
  return m?.[1];
}

/**
 * Establishes who is calling for every non-public method. Public methods carry their own
 * credential in the request, so a header there is not looked at. Agent methods take only an
 * agent's credential (x-agent-id and its token), and no other method takes one.
 */
export function authnInterceptor(
  auth: Authenticator,
  policies: PolicyLookup = policyOf,
  agents?: Pick<AgentCredentials, "authenticate">,
  cookies?: Pick<WebLogin, "authenticate">,
): Interceptor {
  return (next) => (req) => {
    const policy = policies(req.method);
    if (!policy || policy.access === Access.PUBLIC || policy.access === Access.DEV) return next(req);
    return authenticated(req, policy.access, next);
  };

  async function authenticated(req: UnaryRequest | StreamRequest, access: Access, next: Parameters<Interceptor>[0]) {
    if (access === Access.AGENT) {
      if (!agents) throw unauthenticated("AGENT_CREDENTIAL_INVALID", "agents are not served here");
      const header = req.header.get("authorization");
      const token = bearerOf(header);
      if (header && !token) throw unauthenticated("AUTHORIZATION_MALFORMED", "authorization header must be 'Bearer <token>'");
      const clientIp = req.contextValues.get(kClientIp);
      const peer = req.contextValues.get(kPeerCertificate);
      req.contextValues.set(kAgent, await agents.authenticate(req.header.get("x-agent-id"), token, clientIp, peer));
      return next(req);
    }
    const header = req.header.get("authorization");
    if (header) {
      const bearer = bearerOf(header);
      if (!bearer) throw unauthenticated("AUTHORIZATION_MALFORMED", "authorization header must be 'Bearer <token>'");
      req.contextValues.set(kPrincipal, await auth.authenticate(bearer, req.contextValues.get(kClientIp)));
      return next(req);
    }
    // A browser's session cookie counts only with its CSRF token: without the header the cookie is
    // ignored (another site can make the browser send it, never read the token).
    const csrf = req.header.get("x-csrf-token");
    const cookie = csrf && cookies ? sessionCookieOf(req.header.get("cookie")) : undefined;
    if (cookie) req.contextValues.set(kPrincipal, await cookies!.authenticate(cookie, csrf!, req.contextValues.get(kClientIp)));
    return next(req);
  }
}
