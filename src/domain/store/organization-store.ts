import type { MembershipRow, OrganizationRow } from "../records.js";
import type { PageAfter } from "./user-store.js";

export interface MemberWithUser extends MembershipRow {
  email: string;
  displayName: string;
}

export type OrganizationChanges = Partial<Pick<OrganizationRow, "name" | "suspended" | "requireMfa" | "deletedAt">>;

export interface OrganizationStore {
  create(org: { name: string; tier: string; createdBy: string }, now: Date): Promise<OrganizationRow>;
  /** A live (not deleted) organization. */
  findById(id: string): Promise<OrganizationRow | undefined>;
  update(id: string, set: OrganizationChanges, now: Date): Promise<OrganizationRow | undefined>;
  countCreatedBy(userId: string): Promise<number>;
  /** Organizations the user belongs to (or every one, for userId undefined), oldest first. */
  list(
    limit: number,
    userId: string | undefined,
    after?: PageAfter,
  ): Promise<(OrganizationRow & { callerRole: string | null; callerAcceptedAt?: Date | null })[]>;
  membership(organizationId: string, userId: string): Promise<MembershipRow | undefined>;
  /** Whether two users are members of one live organization. */
  sharesOrganization(userA: string, userB: string): Promise<boolean>;
  /** Undefined when the user is a member already. `accepted`: the user joins by their own act (creating the organization). */
  addMember(m: { organizationId: string; userId: string; role: string; accepted?: boolean }, now: Date): Promise<MembershipRow | undefined>;
  /** Marks the membership accepted (kept when it already was); undefined when there is none. */
  acceptMembership(organizationId: string, userId: string, now: Date): Promise<MembershipRow | undefined>;
  setRole(organizationId: string, userId: string, role: string): Promise<MembershipRow | undefined>;
  removeMember(organizationId: string, userId: string): Promise<MembershipRow | undefined>;
  /** Locks the owner rows of live users, so two demotions cannot both see "another owner left". */
  lockOwners(organizationId: string): Promise<string[]>;
  /** Live organizations in which this user is the only live owner. */
  soleOwnerOf(userId: string): Promise<string[]>;
  /**
   * Locks the live organizations this user owns (in id order, so two such calls cannot
   * deadlock), serializing with every membership change there for the rest of the transaction.
   */
  lockOwnedOrganizations(userId: string): Promise<void>;
  /** Serializes membership changes of one organization for the rest of the transaction. */
  lockOrganization(organizationId: string): Promise<void>;
  /** Members who are live users (deleted accounts are not members any more). */
  listMembers(organizationId: string, limit: number, after?: { createdAt: Date; userId: string }): Promise<MemberWithUser[]>;
}
