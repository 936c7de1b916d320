import { asc, eq, gt } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { roles, type RoleRow, type RoleRule } from "../schema/index.js";

export class RoleRepository {
  async create(db: DbOrTx, role: { name: string; description: string; rules: RoleRule[]; builtin?: boolean }, now: Date): Promise<RoleRow | undefined> {
    const [row] = await db
      .insert(roles)
      .values({ ...role, createdAt: now, updatedAt: now })
      .onConflictDoNothing()
      .returning();
    return row;
  }

  async find(db: DbOrTx, name: string): Promise<RoleRow | undefined> {
    const [row] = await db.select().from(roles).where(eq(roles.name, name));
    return row;
  }

  async findMany(db: DbOrTx, names: string[]): Promise<RoleRow[]> {
    if (names.length === 0) return [];
    const rows = await db.select().from(roles);
    return rows.filter((r) => names.includes(r.name));
  }

  async update(db: DbOrTx, name: string, set: { description: string; rules: RoleRule[] }, now: Date): Promise<RoleRow | undefined> {
    const [row] = await db
      .update(roles)
      .set({ ...set, updatedAt: now })
      .where(eq(roles.name, name))
      .returning();
    return row;
  }

  async delete(db: DbOrTx, name: string): Promise<RoleRow | undefined> {
    const [row] = await db.delete(roles).where(eq(roles.name, name)).returning();
    return row;
  }

  async list(db: DbOrTx, limit: number, afterName?: string): Promise<RoleRow[]> {
    return db
      .select()
      .from(roles)
      .where(afterName ? gt(roles.name, afterName) : undefined)
      .orderBy(asc(roles.name))
      .limit(limit);
  }
}
