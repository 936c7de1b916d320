import { RoleAdmin } from "../domain/rbac/role-admin.js";
import { RoleCatalog } from "../domain/rbac/role-catalog.js";
import { roleHandlers } from "../handlers/role.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";

export interface RbacArea {
  catalog: RoleCatalog;
  handlers: Pick<ServiceHandlers, "role">;
}

/** Roles: the catalogue every access decision reads, and their administration. */
export async function wireRbac(core: Core): Promise<RbacArea> {
  const catalog = new RoleCatalog(core.store, core.caches, core.bus);
  const admin = new RoleAdmin({ store: core.store, catalog, audit: core.audit, clock: core.clock, bus: core.bus });
  const shadowed = await admin.ensureBuiltins();
  for (const name of shadowed) core.log.warn({ role: name }, "a custom role holds the name of a built-in role and was left as it is");
  return { catalog, handlers: { role: roleHandlers(admin) } };
}
