import { asc, eq, gt } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { roles, type RoleRow, type RoleRule } from "../schema/index.js";
import type { RoleRequests, RoleSsh, RoleStore } from "../../domain/store/role-store.js";

export class RoleRepository implements RoleStore {
  constructor(private readonly db: DbOrTx) {}

  async create(
    role: { name: string; description: string; rules: RoleRule[]; builtin?: boolean } & Partial<RoleSsh & RoleRequests>,
    now: Date,
  ): Promise<RoleRow | undefined> {
    const [row] = await this.db
      .insert(roles)
      .values({ ...role, createdAt: now, updatedAt: now })
      .onConflictDoNothing()
      .returning();
    return row;
  }

  async find(name: string): Promise<RoleRow | undefined> {
    const [row] = await this.db.select().from(roles).where(eq(roles.name, name));
    return row;
  }

  async update(name: string, set: Partial<{ description: string; rules: RoleRule[] } & RoleSsh & RoleRequests>, now: Date): Promise<RoleRow | undefined> {
    const [row] = await this.db
      .update(roles)
      .set({ ...set, updatedAt: now })
      .where(eq(roles.name, name))
      .returning();
    return row;
  }

  async delete(name: string): Promise<RoleRow | undefined> {
    const [row] = await this.db.delete(roles).where(eq(roles.name, name)).returning();
    return row;
  }

  async list(limit: number, afterName?: string): Promise<RoleRow[]> {
    return this.db
      .select()
      .from(roles)
      .where(afterName ? gt(roles.name, afterName) : undefined)
      .orderBy(asc(roles.name))
      .limit(limit);
  }
}
