import type { UserRow } from "../records.js";

export interface NewUser {
  email: string;
  displayName: string;
  passwordHash: string | null;
  roles?: string[];
  /** Set when the address is known to be the user's (an administrator or identity provider vouches). */
  emailVerifiedAt?: Date | null;
  loginAlias?: string | null;
  traits?: Record<string, string[]>;
}

export type UserChanges = Partial<
  Pick<UserRow, "displayName" | "roles" | "disabled" | "passwordHash" | "passwordChangedAt" | "emailVerifiedAt" | "loginAlias" | "traits">
>;

export interface PageAfter {
  createdAt: Date;
  id: string;
}

export interface UserStore {
  /** Undefined when the email is taken. */
  create(user: NewUser, now: Date): Promise<UserRow | undefined>;
  /** A live (not deleted) user; undefined for an id that is not a UUID. */
  findById(id: string): Promise<UserRow | undefined>;
  findByEmail(email: string): Promise<UserRow | undefined>;
  /** The live user with this login alias (lower-cased). */
  findByLoginAlias(alias: string): Promise<UserRow | undefined>;
  /**
   * The user, whether any second factor is confirmed, and whether they signed in from `network`
   * since `knownSince`, in one read (sign-in is a hot path).
   */
  findByEmailForSignIn(email: string, network: string, knownSince: Date): Promise<(UserRow & { hasMfa: boolean; knownNetwork: boolean }) | undefined>;
  /** Row lock on the user for the rest of the transaction (per-user limits). */
  lockForUpdate(id: string): Promise<void>;
  list(limit: number, after?: PageAfter, emailPrefix?: string): Promise<UserRow[]>;
  update(id: string, changes: UserChanges, now: Date): Promise<UserRow | undefined>;
  /** Soft delete; the email is released by suffixing it, so the address can sign up again. */
  softDelete(id: string, now: Date): Promise<UserRow | undefined>;
  counts(): Promise<{ total: number; disabled: number }>;
}
