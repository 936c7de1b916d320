import type { EmailVerificationRow } from "../records.js";

export interface EmailVerificationStore {
  /** Replaces the user's pending verification (a new code makes the old one useless). */
  put(v: Omit<EmailVerificationRow, "failedAttempts">): Promise<void>;
  find(userId: string): Promise<EmailVerificationRow | undefined>;
  findByLinkToken(linkTokenHash: string): Promise<EmailVerificationRow | undefined>;
  /** Counts a wrong code; returns the failures so far. */
  countFailure(userId: string): Promise<number>;
  /** Removes the pending verification, once: undefined when another call took it first. */
  take(userId: string): Promise<EmailVerificationRow | undefined>;
}
