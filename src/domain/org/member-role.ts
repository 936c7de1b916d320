import type { ApiScope } from "../principal.js";

export type MemberRole = "owner" | "admin" | "member" | "viewer";

export const MEMBER_ROLES: MemberRole[] = ["owner", "admin", "member", "viewer"];

const RANK: Record<MemberRole, number> = { viewer: 1, member: 2, admin: 3, owner: 4 };

export function roleAtLeast(role: MemberRole | undefined, needed: MemberRole): boolean {
  return !!role && RANK[role] >= RANK[needed];
}

export function lowerRole(a: MemberRole, b: MemberRole): MemberRole {
  return RANK[a] <= RANK[b] ? a : b;
}

/** What an organization-bound machine credential may do, as a member role. */
export function roleForScopes(scopes: ApiScope[]): MemberRole | undefined {
  if (scopes.includes("admin")) return "admin";
  if (scopes.includes("write")) return "member";
  if (scopes.includes("read")) return "viewer";
  return undefined;
}

export type OrganizationTier = "free" | "starter" | "professional" | "enterprise";
export const TIERS: OrganizationTier[] = ["free", "starter", "professional", "enterprise"];
