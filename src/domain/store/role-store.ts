import type { RoleRow, RoleRule } from "../records.js";

export interface RoleStore {
  /** Undefined when the name is taken. */
  create(role: { name: string; description: string; rules: RoleRule[]; builtin?: boolean }, now: Date): Promise<RoleRow | undefined>;
  find(name: string): Promise<RoleRow | undefined>;
  update(name: string, set: { description: string; rules: RoleRule[] }, now: Date): Promise<RoleRow | undefined>;
  delete(name: string): Promise<RoleRow | undefined>;
  list(limit: number, afterName?: string): Promise<RoleRow[]>;
}
