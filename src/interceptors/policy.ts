import type { Interceptor } from "@connectrpc/connect";
import { kPrincipal } from "../context.js";
import { DomainError, permissionDenied, unauthenticated } from "../domain/errors.js";
import { Access } from "../../gen/warden/options/v1/options_pb.js";
import { policyOf } from "../policy.js";

/** Enforces the proto-declared policy; anything not explicitly allowed is refused. */
export function policyInterceptor(opts: { dev: boolean }): Interceptor {
  return (next) => async (req) => {
    const policy = policyOf(req.method);
    if (!policy) throw permissionDenied("NO_POLICY", "method has no access policy");
    const principal = req.contextValues.get(kPrincipal);
    switch (policy.access) {
      case Access.PUBLIC:
        return next(req);
      case Access.DEV:
        if (!opts.dev) throw new DomainError("unimplemented", "DEV_MODE_OFF", "only available in dev mode");
        return next(req);
      case Access.AUTHENTICATED:
        if (!principal) throw unauthenticated();
        return next(req);
      case Access.ADMIN:
        if (!principal) throw unauthenticated();
        if (!principal.admin) throw permissionDenied("ADMIN_REQUIRED", "requires a system administrator");
        return next(req);
      default:
        // Access kinds whose credentials this server does not yet accept fail closed.
        if (!principal) throw unauthenticated();
        throw permissionDenied("ACCESS_NOT_GRANTED", "caller may not use this method");
    }
  };
}
