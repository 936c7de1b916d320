import type { RequestMeta } from "../auth/request-meta.js";
import { principalLabel, type Principal } from "../principal.js";

/** Who did it and from where, as every audit entry records it. */
export function auditActor(p: Principal, meta: RequestMeta) {
  return { ...principalLabel(p), clientIp: meta.clientIp, requestId: meta.requestId };
}
