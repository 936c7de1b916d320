import type { HandlerContext } from "@connectrpc/connect";
import { kAgent, kBackchannelCaller, kClientIp, kCredentialFailed, kOrgGrant, kPrincipal, kRequestId } from "../context.js";
import type { AgentPrincipal } from "../domain/agent/agent-credentials.js";
import type { BackchannelCaller } from "../domain/backchannel/mail-auth.js";
import type { RequestMeta } from "../domain/auth/request-meta.js";
import { DomainError, permissionDenied, unauthenticated } from "../domain/errors.js";
import type { OrgGrant } from "../domain/org/org-access.js";
import type { Principal, UserPrincipal } from "../domain/principal.js";

export function metaOf(ctx: HandlerContext): RequestMeta {
  return {
    clientIp: ctx.values.get(kClientIp),
    userAgent: (ctx.requestHeader.get("user-agent") ?? "").slice(0, 512),
    requestId: ctx.values.get(kRequestId),
    method: `/${ctx.service.typeName}/${ctx.method.name}`,
  };
}

/** The caller of an authenticated method; the policy interceptor has already required one. */
export function principalOf(ctx: HandlerContext): Principal {
  const p = ctx.values.get(kPrincipal);
  if (!p) throw unauthenticated();
  return p;
}

/** The caller, who must be a signed-in user (not an API key or service account). */
export function callerOf(ctx: HandlerContext): UserPrincipal {
  const p = principalOf(ctx);
  if (p.kind !== "user") throw permissionDenied("USER_SESSION_REQUIRED", "this method needs a signed-in user, not a machine credential");
  return p;
}

/** The organization the policy interceptor resolved for this org-scoped call. */
export function grantOf(ctx: HandlerContext): OrgGrant {
  const grant = ctx.values.get(kOrgGrant);
  if (!grant) throw permissionDenied("NO_POLICY", "organization access was not established");
  return grant;
}

/** The backchannel caller the caller check established (only on the backchannel listener). */
export function backchannelCallerOf(ctx: HandlerContext): BackchannelCaller {
  const caller = ctx.values.get(kBackchannelCaller);
  if (!caller) throw unauthenticated("UNAUTHENTICATED", "a backchannel caller's credential is required");
  return caller;
}

/** The agent calling an agent method (the authn interceptor proved its credential). */
export function agentOf(ctx: HandlerContext): AgentPrincipal {
  const agent = ctx.values.get(kAgent);
  if (!agent) throw unauthenticated("AGENT_CREDENTIAL_INVALID", "an agent's credential is required");
  return agent;
}

/** A public call whose credential (join token, bootstrap or renewal token) was refused counts against the address's budget of its rate class. */
export async function joinAttempt<T>(ctx: HandlerContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof DomainError && err.kind === "unauthenticated") ctx.values.set(kCredentialFailed, true);
    throw err;
  }
}
