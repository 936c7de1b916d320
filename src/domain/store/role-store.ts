import type { RoleRow, RoleRule, SshPermissionFlags } from "../records.js";

/** A role's SSH section (AuthService/IssueUserCerts). */
export interface RoleSsh {
  logins: string[];
  nodeLabels: Record<string, string[]>;
  maxSessionTtlSeconds: number | null;
  sshPermissions: SshPermissionFlags;
}

export const NO_SSH: RoleSsh = { logins: [], nodeLabels: {}, maxSessionTtlSeconds: null, sshPermissions: {} };

/** A role's access-request section (AccessRequestService). */
export interface RoleRequests {
  /** Roles its holders may request. */
  requestRoles: string[];
  /** Roles whose requests its holders may review. */
  reviewRoles: string[];
  /** Approvals a request for this role needs. */
  approvalsRequired: number;
}

export const NO_REQUESTS: RoleRequests = { requestRoles: [], reviewRoles: [], approvalsRequired: 1 };

export interface RoleStore {
  /** Undefined when the name is taken. */
  create(
    role: { name: string; description: string; rules: RoleRule[]; builtin?: boolean } & Partial<RoleSsh & RoleRequests>,
    now: Date,
  ): Promise<RoleRow | undefined>;
  find(name: string): Promise<RoleRow | undefined>;
  update(name: string, set: Partial<{ description: string; rules: RoleRule[] } & RoleSsh & RoleRequests>, now: Date): Promise<RoleRow | undefined>;
  delete(name: string): Promise<RoleRow | undefined>;
  list(limit: number, afterName?: string): Promise<RoleRow[]>;
}
