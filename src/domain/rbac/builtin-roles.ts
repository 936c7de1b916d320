import type { RoleRule } from "../records.js";

export const ADMIN_ROLE = "admin";

/** A user is an administrator exactly when they hold the admin role. */
export function isAdmin(user: { roles: string[] }): boolean {
  return user.roles.includes(ADMIN_ROLE);
}

export interface BuiltinRole {
  name: string;
  description: string;
  rules: RoleRule[];
}

const allow = (resources: string[], verbs: string[]): RoleRule => ({ resources, verbs, effect: "allow" });

/** Roles every installation has; they cannot be changed or deleted (start-up keeps them current). */
export const BUILTIN_ROLES: BuiltinRole[] = [
  { name: ADMIN_ROLE, description: "System administrator: everything", rules: [allow(["*"], ["*"])] },
  {
    name: "auditor",
    description: "Reads the audit log, system statistics and users; changes nothing",
    rules: [allow(["audit_log"], ["list", "verify"]), allow(["stats"], ["get"]), allow(["user"], ["get", "list"])],
  },
  {
    name: "user-manager",
    description: "Creates, changes, disables and deletes users without roles, and manages their sessions; not roles, keys or settings",
    rules: [allow(["user"], ["*"]), allow(["session"], ["get", "list", "revoke"])],
  },
];
