import type { RoleRow, SshPermissionFlags } from "../records.js";
import { expandTemplates, type Traits } from "../user/traits.js";

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

/** A Unix login name, as a role's own logins must be (the proto's rule). */
const LOGIN = /^[a-z_][a-z0-9_.-]{0,31}$/;
const isLogin = (v: string) => LOGIN.test(v);

/**
 * A pure function of the roles (and the user's traits, for templates such as
 * {{internal.logins}}): union of logins and extensions, the tightest TTL cap. Machines have no
 * traits: their templates expand to nothing.
 */
export function sshAccessOf(roles: readonly RoleRow[], traits: Traits = {}): SshAccess {
  const logins = [...new Set(roles.flatMap((r) => expandTemplates(r.logins, traits, isLogin)))].sort();
  const caps = roles.map((r) => r.maxSessionTtlSeconds).filter((t): t is number => t !== null);
  const extensions = EXTENSIONS.filter(([flag]) => roles.some((r) => r.sshPermissions[flag])).map(([, name]) => name);
  return { logins, maxTtlSeconds: caps.length ? Math.min(...caps) : undefined, extensions };
}
