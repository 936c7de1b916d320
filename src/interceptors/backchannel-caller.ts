import type { Interceptor } from "@connectrpc/connect";
import { Access } from "../../gen/warden/options/v1/options_pb.js";
import { kBackchannelCaller, kClientIp } from "../context.js";
import { constantTimeEqual } from "../crypto/random.js";
import type { Authenticator } from "../domain/auth/authenticator.js";
import { DomainError, permissionDenied, unauthenticated } from "../domain/errors.js";
import type { ApiScope } from "../domain/principal.js";
import type { BruteForce } from "../domain/ratelimit/brute-force.js";
import { policyOf } from "../policy.js";
import { bearerOf } from "./authn.js";

export interface BackchannelCallerOptions {
  /** The configured Basic credential, when Basic is on. */
  basic?: { username: string; password: string };
  /** Whether service-account tokens are accepted. */
  bearer: boolean;
  authenticator: Pick<Authenticator, "authenticate">;
  limiter: Pick<BruteForce, "takeNetwork" | "networkSucceeded">;
}

/** The service-account scope each backchannel method needs; the Basic caller has all of them. */
const SCOPE_OF: Record<string, ApiScope> = { Authenticate: "backchannel", ListAccounts: "backchannel_list_accounts" };

/**
 * Who may ask the backchannel: the mail server itself, by HTTP Basic or a service account's
 * token. Its failures are transport errors (UNAUTHENTICATED, PERMISSION_DENIED), counted per
 * caller address like any other credential path; the users' passwords it asks about are judged
 * in the response, never here. Health and reflection on the listener stay open.
 */
export function backchannelCallerInterceptor(opts: BackchannelCallerOptions): Interceptor {
  return (next) => async (req) => {
    if (policyOf(req.method)?.access !== Access.BACKCHANNEL) return next(req);
    const ip = req.contextValues.get(kClientIp);
    await opts.limiter.takeNetwork("backchannel_caller", ip);
    let caller: Identified;
    try {
      caller = await identify(req.header.get("authorization"), ip, opts);
    } catch (err) {
      // A fault (the database, the counters) proved nothing about the credential.
      if (!(err instanceof DomainError) || err.kind === "unavailable") await opts.limiter.networkSucceeded("backchannel_caller", ip).catch(() => {});
      throw err;
    }
    await opts.limiter.networkSucceeded("backchannel_caller", ip);
    if (caller.kind === "service_account" && !caller.scopes.includes(SCOPE_OF[req.method.name]!))
      throw permissionDenied("INSUFFICIENT_SCOPE", `the service account lacks the ${SCOPE_OF[req.method.name]} scope`);
    req.contextValues.set(
      kBackchannelCaller,
      caller.kind === "basic" ? caller : { kind: "service_account", id: caller.id, organizationId: caller.organizationId },
    );
    return next(req);
  };
}

type Identified = { kind: "basic" } | { kind: "service_account"; id: string; organizationId: string; scopes: ApiScope[] };

async function identify(header: string | null, ip: string, opts: BackchannelCallerOptions): Promise<Identified> {
  if (!header) throw unauthenticated("UNAUTHENTICATED", "the backchannel needs Basic credentials or a service account's bearer token");
  const basic = /^Basic ([A-Za-z0-9+/=]{1,1024})$/i.exec(header);
  if (basic) {
    if (!opts.basic) throw unauthenticated("UNAUTHENTICATED", "Basic authentication is not enabled on this backchannel");
    const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    // Both halves are always compared, so the answer takes as long whichever is wrong.
    const userOk = constantTimeEqual(colon < 0 ? decoded : decoded.slice(0, colon), opts.basic.username);
    const passwordOk = constantTimeEqual(colon < 0 ? "" : decoded.slice(colon + 1), opts.basic.password);
    if (!(userOk && passwordOk)) throw unauthenticated("INVALID_CREDENTIALS", "invalid backchannel credentials");
    return { kind: "basic" };
  }
  const bearer = bearerOf(header);
  if (!bearer) throw unauthenticated("AUTHORIZATION_MALFORMED", "authorization must be 'Basic <base64>' or 'Bearer <token>'");
  if (!opts.bearer) throw unauthenticated("UNAUTHENTICATED", "bearer tokens are not enabled on this backchannel");
  const principal = await opts.authenticator.authenticate(bearer, ip);
  if (principal.kind !== "service_account") throw permissionDenied("PERMISSION_DENIED", "only a service account's token may call the backchannel");
  return { kind: "service_account", id: principal.id, organizationId: principal.organizationId, scopes: principal.scopes };
}
