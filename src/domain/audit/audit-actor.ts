import type { RequestMeta } from "../auth/request-meta.js";
import { principalLabel, type Principal } from "../principal.js";

/** Where a call came from, as every audit entry records it. */
export function whereFrom(meta: RequestMeta): { clientIp: string; requestId: string } {
  return { clientIp: meta.clientIp, requestId: meta.requestId };
}

/** Who did it and from where. */
export function auditActor(p: Principal, meta: RequestMeta) {
  return { ...principalLabel(p), ...whereFrom(meta) };
}

/** A user acting for themselves (sign-in paths, where there is no principal yet). */
export function userActor(userId: string, meta: RequestMeta) {
  return { actorType: "user", actorId: userId, ...whereFrom(meta) };
}
