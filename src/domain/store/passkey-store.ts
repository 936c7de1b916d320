import type { PasskeyRow, WebauthnChallengeRow } from "../records.js";

export type ChallengeKind = "registration" | "authentication";

export type NewPasskey = Omit<PasskeyRow, "id" | "lastUsedAt">;

export interface PasskeyStore {
  createChallenge(c: Omit<WebauthnChallengeRow, "usedAt">): Promise<void>;
  /**
   * Uses a pending challenge once, in one statement: of two parallel completions exactly one
   * gets the row. A registration challenge is only usable by the user it was issued to.
   */
  claimChallenge(id: string, kind: ChallengeKind, now: Date, userId?: string): Promise<WebauthnChallengeRow | undefined>;
  deleteChallengesExpiredBefore(before: Date): Promise<void>;
  /** Undefined when the credential is registered already. */
  insert(p: NewPasskey): Promise<PasskeyRow | undefined>;
  listForUser(userId: string): Promise<PasskeyRow[]>;
  countForUser(userId: string): Promise<number>;
  findByCredentialId(credentialId: string): Promise<PasskeyRow | undefined>;
  /**
   * Stores the counter of an accepted assertion, only if it grew (or both it and the stored one
   * are zero: an authenticator without a counter). One statement, so two parallel assertions
   * carrying the same counter cannot both pass. Undefined means the counter did not grow.
   */
  recordAssertion(id: string, counter: number, backedUp: boolean, now: Date): Promise<PasskeyRow | undefined>;
  deleteOwn(id: string, userId: string): Promise<PasskeyRow | undefined>;
  /** Every passkey of the user; returns how many there were. */
  deleteAllOf(userId: string): Promise<number>;
}
