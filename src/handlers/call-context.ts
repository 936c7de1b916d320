import type { HandlerContext } from "@connectrpc/connect";
import { kClientIp, kPrincipal, kRequestId } from "../context.js";
import type { RequestMeta } from "../domain/auth/request-meta.js";
import { unauthenticated } from "../domain/errors.js";
import type { UserPrincipal } from "../domain/principal.js";

export function metaOf(ctx: HandlerContext): RequestMeta {
  return {
    clientIp: ctx.values.get(kClientIp),
    userAgent: (ctx.requestHeader.get("user-agent") ?? "").slice(0, 512),
    requestId: ctx.values.get(kRequestId),
  };
}

/** The caller of an authenticated method; the policy interceptor has already required one. */
export function callerOf(ctx: HandlerContext): UserPrincipal {
  const p = ctx.values.get(kPrincipal);
  if (!p) throw unauthenticated();
  return p;
}
