import type { RoleRow, SshPermissionFlags } from "../records.js";

/** What a user's roles grant over SSH together. */
export interface SshAccess {
  /** The union of the roles' logins, in a stable order. */
  logins: string[];
  /** The smallest max_session_ttl among the roles that set one; undefined when none does. */
  maxTtlSeconds?: number;
  /** The certificate extensions any of the roles permits. */
  extensions: string[];
}

const EXTENSIONS: [keyof SshPermissionFlags, string][] = [
  ["permitX11Forwarding", "permit-X11-forwarding"],
  ["permitAgentForwarding", "permit-agent-forwarding"],
  ["permitPortForwarding", "permit-port-forwarding"],
  ["permitPty", "permit-pty"],
  ["permitUserRc", "permit-user-rc"],
];

/** A pure function of the roles: union of logins and extensions, the tightest TTL cap. */
export function sshAccessOf(roles: readonly RoleRow[]): SshAccess {
  const logins = [...new Set(roles.flatMap((r) => r.logins))].sort();
  const caps = roles.map((r) => r.maxSessionTtlSeconds).filter((t): t is number => t !== null);
  const extensions = EXTENSIONS.filter(([flag]) => roles.some((r) => r.sshPermissions[flag])).map(([, name]) => name);
  return { logins, maxTtlSeconds: caps.length ? Math.min(...caps) : undefined, extensions };
}
