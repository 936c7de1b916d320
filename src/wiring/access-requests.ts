import { AccessExpiry } from "../domain/access/access-expiry.js";
import { AccessRequests } from "../domain/access/access-requests.js";
import { accessRequestHandlers } from "../handlers/access-request.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { RbacArea } from "./rbac.js";

/** Lapsed requests are marked expired (and audited) this often; access itself ends by the clock, not by this. */
const EXPIRY_SWEEP_MS = 30_000;

export interface AccessRequestArea {
  handlers: Pick<ServiceHandlers, "accessRequest">;
  /** The expiry sweep: on a timer from start to stop, or run at once (tests). */
  expiry: { sweep(): Promise<number>; stop(): void };
}

/** AccessRequestService. The roles and nodes approved requests grant (core.grants) widen every caller in the authenticator and the node directory. */
export function wireAccessRequests(core: Core, deps: { rbac: RbacArea }): AccessRequestArea {
  const { store, clock, audit, bus, grants, log } = core;
  const expiry = new AccessExpiry({ store, clock, audit });
  const timer = setInterval(() => {
    expiry.sweep().catch((err: Error) => log.warn({ err: { message: err?.message } }, "access request expiry sweep failed"));
  }, EXPIRY_SWEEP_MS);
  timer.unref();
  return {
    handlers: { accessRequest: accessRequestHandlers(new AccessRequests({ store, roles: deps.rbac.catalog, clock, audit, bus, grants }), clock) },
    expiry: { sweep: () => expiry.sweep(), stop: () => clearInterval(timer) },
  };
}
