/**
 * Every permission a role rule may name, by resource. Methods declare theirs in the proto
 * (`warden.options.v1.policy.permission`); the server refuses to start when one is not listed
 * here, and roles naming an unknown resource or verb are refused.
 */
export const PERMISSIONS = {
  user: ["get", "list", "create", "update", "delete", "disable", "enable"],
  role: ["create", "update", "delete", "assign"],
  session: ["get", "list", "revoke"],
  audit_log: ["list", "verify", "archive"],
  stats: ["get"],
  signing_key: ["rotate"],
  connector: ["create", "list", "delete"],
  organization: ["create", "get", "list", "update", "delete", "suspend"],
  membership: ["list", "add", "remove", "update", "accept"],
  api_key: ["create", "list", "revoke", "rotate"],
  service_account: ["create", "get", "list", "update", "delete", "rotate_secret"],
  device: ["register", "get", "list", "revoke", "trust"],
  policy: ["create", "update", "delete", "list", "evaluate"],
  org_policy: ["get", "update", "check_url"],
  telemetry: ["emit"],
  certificate_authority: ["rotate"],
  join_token: ["create", "list", "delete"],
  node: ["list", "update"],
  agent_identity: ["create", "list", "delete"],
  lock: ["create", "list", "delete"],
  recording: ["read", "read_reachable"],
  access_request: ["list"],
  plugin: ["configure", "list"],
  cluster_config: ["get", "update"],
  notification_channel: ["create", "list", "update", "delete"],
} as const satisfies Record<string, readonly string[]>;

export type Resource = keyof typeof PERMISSIONS;

export interface Permission {
  resource: string;
  verb: string;
}

export function isKnownPermission(p: Permission): boolean {
  const verbs = (PERMISSIONS as Record<string, readonly string[]>)[p.resource];
  return !!verbs && verbs.includes(p.verb);
}

/** Why a rule's resource/verb pair can never match a permission, or undefined when it can. */
export function ruleProblem(resources: string[], verbs: string[]): string | undefined {
  for (const resource of resources) {
    if (resource === "*") continue;
    const known = (PERMISSIONS as Record<string, readonly string[]>)[resource];
    if (!known) return `unknown resource "${resource}"`;
    for (const verb of verbs) if (verb !== "*" && !known.includes(verb)) return `"${verb}" is not a verb of ${resource}`;
  }
  if (resources.includes("*")) {
    const all = new Set(Object.values(PERMISSIONS).flat() as string[]);
    for (const verb of verbs) if (verb !== "*" && !all.has(verb)) return `unknown verb "${verb}"`;
  }
  return undefined;
}
