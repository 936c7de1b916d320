import type { RoleRow, RoleRule } from "../../../../src/domain/records.js";
import { NO_REQUESTS, NO_SSH, type RoleRequests, type RoleSsh, type RoleStore } from "../../../../src/domain/store/role-store.js";
import { copy, type Rows } from "./tables.js";

/** RoleRepository in memory. */
export class MemoryRoleStore implements RoleStore {
  constructor(private readonly rows: Rows) {}

  private get roles() {
    return this.rows.tables.roles;
  }

  async create(
    role: { name: string; description: string; rules: RoleRule[]; builtin?: boolean } & Partial<RoleSsh & RoleRequests>,
    now: Date,
  ): Promise<RoleRow | undefined> {
    if (this.roles.has(role.name)) return undefined; // ON CONFLICT DO NOTHING
    return this.rows.insert(this.roles, role.name, { builtin: false, ...NO_SSH, ...NO_REQUESTS, ...role, createdAt: now, updatedAt: now });
  }

  async find(name: string): Promise<RoleRow | undefined> {
    const r = this.roles.get(name);
    return r && copy(r);
  }

  async update(name: string, set: Partial<{ description: string; rules: RoleRule[] } & RoleSsh & RoleRequests>, now: Date): Promise<RoleRow | undefined> {
    return this.rows.update(this.roles, name, { ...set, updatedAt: now });
  }

  async delete(name: string): Promise<RoleRow | undefined> {
    return this.rows.delete(this.roles, name);
  }

  async list(limit: number, afterName?: string): Promise<RoleRow[]> {
    return [...this.roles.values()]
      .filter((r) => !afterName || r.name > afterName)
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .slice(0, limit)
      .map(copy);
  }
}
