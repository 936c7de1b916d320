import type { BoundedCache } from "../cache/bounded-cache.js";
import type { Caches } from "../cache/caches.js";
import type { InvalidationBus } from "../invalidation.js";
import type { RoleRow } from "../records.js";
import type { RoleStore } from "../store/role-store.js";
import { PermissionSet } from "./rules.js";

/**
 * Roles as every call reads them: from a bounded per-instance cache that each role change
 * clears on every instance (the invalidation bus), so a change is seen at the next call.
 */
export class RoleCatalog {
  /** null: the role does not exist (remembered too, so unknown names cost no query each call). */
  private readonly cache: BoundedCache<string, RoleRow | null>;

  constructor(
    private readonly store: { roles: Pick<RoleStore, "find"> },
    caches: Caches,
    bus: InvalidationBus,
  ) {
    this.cache = caches.create("roles");
    bus.on("role", (name) => this.cache.delete(name));
  }

  async find(name: string): Promise<RoleRow | undefined> {
    const cached = this.cache.get(name);
    if (cached !== undefined) return cached ?? undefined;
    const row = (await this.store.roles.find(name)) ?? null;
    this.cache.set(name, row);
    return row ?? undefined;
  }

  /** Names among these that are not roles. */
  async unknown(names: string[]): Promise<string[]> {
    const found = await Promise.all(names.map((n) => this.find(n)));
    return names.filter((_, i) => !found[i]);
  }

  /** What a set of roles allows together; no roles, no lookup. */
  async permissionsOf(roles: string[]): Promise<PermissionSet> {
    if (roles.length === 0) return PermissionSet.NONE;
    const rows = await Promise.all(roles.map((r) => this.find(r)));
    return new PermissionSet(rows.flatMap((r) => r?.rules ?? []));
  }
}
