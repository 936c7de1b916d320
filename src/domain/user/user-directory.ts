import { normalizeEmail } from "../auth/email.js";
import { notFound } from "../errors.js";
import type { Principal } from "../principal.js";
import type { UserRow } from "../records.js";
import type { OrganizationStore } from "../store/organization-store.js";
import type { UserStore } from "../store/user-store.js";

/** How much of a user the caller sees: all of it, or what a colleague may know. */
export type UserView = { kind: "full"; user: UserRow } | { kind: "contact"; user: Pick<UserRow, "id" | "email" | "displayName"> };

export interface UserDirectoryDeps {
  store: {
    users: Pick<UserStore, "findById" | "findByEmail" | "findByLoginAlias">;
    orgs: Pick<OrganizationStore, "sharesOrganization" | "membership" | "findById">;
  };
}

/**
 * Looking users up. Only callers whose roles allow user/get (systemAccess) and the user
 * themselves see a whole user (roles, admin, status); members of an organization the user is in
 * see id, email and display name; API keys and service accounts see the members of their own
 * organization that way. Everyone else hears NOT_FOUND, as for an address with no account, so
 * that lookups do not tell who has an account.
 */
export class UserDirectory {
  constructor(private readonly d: UserDirectoryDeps) {}

  async get(caller: Principal, id: string): Promise<UserView> {
    return this.visible(caller, await this.d.store.users.findById(id));
  }

  /** By username (the login alias) or, with an "@", by email. */
  async getByName(caller: Principal, name: string): Promise<UserView> {
    if (name.includes("@")) return this.getByEmail(caller, name);
    return this.visible(caller, await this.d.store.users.findByLoginAlias(name.trim().toLowerCase()));
  }

  async getByEmail(caller: Principal, rawEmail: string): Promise<UserView> {
    return this.visible(caller, await this.d.store.users.findByEmail(normalizeEmail(rawEmail)));
  }

  private async visible(caller: Principal, user: UserRow | undefined): Promise<UserView> {
    if (user && caller.kind === "user" && (caller.systemAccess || caller.userId === user.id)) return { kind: "full", user };
    if (user && (await this.colleague(caller, user.id))) return { kind: "contact", user: { id: user.id, email: user.email, displayName: user.displayName } };
    throw notFound("USER_NOT_FOUND", "user");
  }

  private async colleague(caller: Principal, userId: string): Promise<boolean> {
    if (caller.kind === "user") return this.d.store.orgs.sharesOrganization(caller.userId, userId);
    const org = await this.d.store.orgs.findById(caller.organizationId);
    return !!org && !org.suspended && !!(await this.d.store.orgs.membership(caller.organizationId, userId));
  }
}
