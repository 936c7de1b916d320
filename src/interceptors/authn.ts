import type { Interceptor } from "@connectrpc/connect";
import { Access } from "../../gen/warden/options/v1/options_pb.js";
import { kClientIp, kPrincipal } from "../context.js";
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
 * credential in the request, so a header there is not looked at.
 */
export function authnInterceptor(auth: Authenticator, policies: PolicyLookup = policyOf): Interceptor {
  return (next) => async (req) => {
    const policy = policies(req.method);
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
