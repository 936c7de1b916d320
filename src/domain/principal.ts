import { PermissionSet } from "./rbac/rules.js";

/** Who is calling, as the authenticator established it. */
export interface UserPrincipal {
  kind: "user";
  userId: string;
  sessionId: string;
  /** RBAC role names; `admin` among them makes a system administrator. */
  roles: string[];
  /** What those roles allow. */
  permissions: PermissionSet;
  /**
   * Set per call by the policy interceptor: the roles allow this method's declared permission,
   * so the caller acts system-wide (other users' sessions, any organization, any key).
   */
  systemAccess: boolean;
  /** How the credential was presented: a JWT access token or a session bearer. */
  credential: "access_token" | "session";
  mfaAt?: Date;
  /** The user's traits, for role templates such as {{internal.logins}}. */
  traits?: Record<string, string[]>;
}

/** read < write < admin; the backchannel scopes stand apart (service accounts of mail servers). */
export type ApiScope = "read" | "write" | "admin" | "backchannel" | "backchannel_list_accounts";

/** A caller bound to one organization with scopes: an API key or a service account. */
export interface MachinePrincipal {
  kind: "api_key" | "service_account";
  /** The key id or the service account id. */
  id: string;
  organizationId: string;
  scopes: ApiScope[];
  /** For user-owned API keys: the user whose organization role caps the key. */
  ownerUserId?: string;
  ownerServiceAccountId?: string;
}

export type Principal = UserPrincipal | MachinePrincipal;

const SCOPE_RANK: Partial<Record<ApiScope, number>> = { read: 1, write: 2, admin: 3 };

/** admin includes write, write includes read; a backchannel scope is only itself. */
export function hasScope(granted: ApiScope[], needed: ApiScope): boolean {
  const rank = SCOPE_RANK[needed];
  if (rank === undefined) return granted.includes(needed);
  return granted.some((g) => (SCOPE_RANK[g] ?? 0) >= rank);
}

/** Whether this call may act system-wide (only users hold roles; machine credentials never do). */
export function hasSystemAccess(p: Principal): boolean {
  return p.kind === "user" && p.systemAccess;
}

/** A stable id of the caller for logs and the audit log. */
export function principalLabel(p: Principal): { actorType: string; actorId: string } {
  return p.kind === "user" ? { actorType: "user", actorId: p.userId } : { actorType: p.kind, actorId: p.id };
}

/** Machine credentials and users without roles: no system permissions at all. */
export const NO_PERMISSIONS = PermissionSet.NONE;
