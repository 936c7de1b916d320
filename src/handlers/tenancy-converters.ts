import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ApiKeySchema, ApiKeyScope, type ApiKey } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import {
  MemberRole as PbRole,
  MemberSchema,
  OrganizationSchema,
  OrganizationTier as PbTier,
  type Member,
  type Organization,
} from "../../gen/warden/org/v1/organization_pb.js";
import { Effect, RoleSchema, type Role, type Rule } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { ServiceAccountSchema, type ServiceAccount } from "../../gen/warden/serviceaccount/v1/service_account_service_pb.js";
import type { MemberWithUser } from "../domain/store/organization-store.js";
import type { RoleSsh } from "../domain/store/role-store.js";
import type { ApiKeyRow, RoleRow, RoleRule, ServiceAccountRow } from "../domain/records.js";
import { invalidArgument } from "../domain/errors.js";
import type { MemberRole, OrganizationTier } from "../domain/org/member-role.js";
import type { OrganizationView } from "../domain/org/organizations.js";
import type { ApiScope } from "../domain/principal.js";

const TIER_TO_PB: Record<OrganizationTier, PbTier> = {
  free: PbTier.FREE,
  starter: PbTier.STARTER,
  professional: PbTier.PROFESSIONAL,
  enterprise: PbTier.ENTERPRISE,
};
const ROLE_TO_PB: Record<MemberRole, PbRole> = { owner: PbRole.OWNER, admin: PbRole.ADMIN, member: PbRole.MEMBER, viewer: PbRole.VIEWER };
const SCOPE_TO_PB: Record<ApiScope, ApiKeyScope> = {
  read: ApiKeyScope.READ,
  write: ApiKeyScope.WRITE,
  admin: ApiKeyScope.ADMIN,
  backchannel: ApiKeyScope.BACKCHANNEL,
  backchannel_list_accounts: ApiKeyScope.BACKCHANNEL_LIST_ACCOUNTS,
};

function inverse<K extends string, V extends number>(m: Record<K, V>): Map<V, K> {
  return new Map(Object.entries(m).map(([k, v]) => [v as V, k as K]));
}
const PB_TO_TIER = inverse(TIER_TO_PB);
const PB_TO_ROLE = inverse(ROLE_TO_PB);
const PB_TO_SCOPE = inverse(SCOPE_TO_PB);

/** An unset tier means free; anything else must be a known tier. */
export function tierFromProto(t: PbTier): OrganizationTier {
  if (t === PbTier.UNSPECIFIED) return "free";
  const tier = PB_TO_TIER.get(t);
  if (!tier) throw invalidArgument("tier", "unknown tier");
  return tier;
}

export function roleFromProto(r: PbRole, field = "role"): MemberRole {
  const role = PB_TO_ROLE.get(r);
  if (!role) throw invalidArgument(field, "must be owner, admin, member or viewer");
  return role;
}

export function scopesFromProto(scopes: ApiKeyScope[]): ApiScope[] {
  return scopes.map((s) => {
    const scope = PB_TO_SCOPE.get(s);
    if (!scope) throw invalidArgument("scopes", "must be read, write or admin");
    return scope;
  });
}

export function optionalDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

const ts = (d: Date | null | undefined) => (d ? timestampFromDate(d) : undefined);

export function organizationToProto(o: OrganizationView): Organization {
  return create(OrganizationSchema, {
    id: o.id,
    name: o.name,
    tier: TIER_TO_PB[o.tier as OrganizationTier] ?? PbTier.UNSPECIFIED,
    suspended: o.suspended,
    requireMfa: o.requireMfa,
    createTime: ts(o.createdAt),
    updateTime: ts(o.updatedAt),
    callerRole: o.callerRole ? ROLE_TO_PB[o.callerRole] : PbRole.UNSPECIFIED,
  });
}

export function memberToProto(m: MemberWithUser): Member {
  return create(MemberSchema, {
    organizationId: m.organizationId,
    userId: m.userId,
    email: m.email,
    displayName: m.displayName,
    role: ROLE_TO_PB[m.role as MemberRole] ?? PbRole.UNSPECIFIED,
    createTime: ts(m.createdAt),
    acceptTime: m.acceptedAt ? ts(m.acceptedAt) : undefined,
  });
}

export function apiKeyToProto(k: ApiKeyRow): ApiKey {
  return create(ApiKeySchema, {
    id: k.id,
    name: k.name,
    scopes: (k.scopes as ApiScope[]).map((s) => SCOPE_TO_PB[s]),
    prefix: k.prefix,
    organizationId: k.organizationId,
    ownerUserId: k.ownerUserId ?? "",
    ownerServiceAccountId: k.ownerServiceAccountId ?? "",
    createTime: ts(k.createdAt),
    expireTime: ts(k.expiresAt),
    revokeTime: ts(k.revokedAt),
    lastUsedTime: ts(k.lastUsedAt),
  });
}

export function serviceAccountToProto(s: ServiceAccountRow): ServiceAccount {
  return create(ServiceAccountSchema, {
    id: s.id,
    clientId: s.clientId,
    name: s.name,
    organizationId: s.organizationId,
    scopes: (s.scopes as ApiScope[]).map((x) => SCOPE_TO_PB[x]),
    disabled: s.disabled,
    createTime: ts(s.createdAt),
    updateTime: ts(s.updatedAt),
  });
}

export function roleToProto(r: RoleRow): Role {
  return create(RoleSchema, {
    name: r.name,
    description: r.description,
    rules: r.rules.map((rule) => ({ resources: rule.resources, verbs: rule.verbs, effect: rule.effect === "deny" ? Effect.DENY : Effect.ALLOW })),
    builtin: r.builtin,
    createTime: ts(r.createdAt),
    updateTime: ts(r.updatedAt),
    logins: r.logins,
    nodeLabels: Object.fromEntries(Object.entries(r.nodeLabels).map(([k, values]) => [k, { values }])),
    maxSessionTtl: r.maxSessionTtlSeconds === null ? undefined : { seconds: BigInt(r.maxSessionTtlSeconds) },
    sshPermissions: { ...r.sshPermissions },
    requestRoles: r.requestRoles,
    reviewRoles: r.reviewRoles,
    approvalsRequired: r.approvalsRequired,
  });
}

/** A Role message's SSH section as the domain stores it. */
export function roleSshFromProto(role: Role): RoleSsh {
  const ttl = role.maxSessionTtl;
  if (ttl && ttl.nanos !== 0) throw invalidArgument("role.max_session_ttl", "must be whole seconds");
  const p = role.sshPermissions;
  return {
    logins: role.logins,
    nodeLabels: Object.fromEntries(Object.entries(role.nodeLabels).map(([k, v]) => [k, v.values])),
    maxSessionTtlSeconds: ttl ? Number(ttl.seconds) : null,
    sshPermissions: {
      permitPty: p?.permitPty || undefined,
      permitPortForwarding: p?.permitPortForwarding || undefined,
      permitAgentForwarding: p?.permitAgentForwarding || undefined,
      permitX11Forwarding: p?.permitX11Forwarding || undefined,
      permitUserRc: p?.permitUserRc || undefined,
    },
  };
}

export function rulesFromProto(rules: Rule[]): RoleRule[] {
  return rules.map((r, i) => {
    if (r.effect !== Effect.ALLOW && r.effect !== Effect.DENY) throw invalidArgument(`role.rules[${i}].effect`, "must be EFFECT_ALLOW or EFFECT_DENY");
    return { resources: r.resources, verbs: r.verbs, effect: r.effect === Effect.DENY ? "deny" : "allow" };
  });
}
