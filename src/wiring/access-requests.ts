import { AccessRequests } from "../domain/access/access-requests.js";
import { accessRequestHandlers } from "../handlers/access-request.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { RbacArea } from "./rbac.js";

/** AccessRequestService. The roles approved requests grant (core.grants) widen every caller in the authenticator. */
export function wireAccessRequests(core: Core, deps: { rbac: RbacArea }): Pick<ServiceHandlers, "accessRequest"> {
  const { store, clock, audit, bus, grants } = core;
  return { accessRequest: accessRequestHandlers(new AccessRequests({ store, roles: deps.rbac.catalog, clock, audit, bus, grants }), clock) };
}
