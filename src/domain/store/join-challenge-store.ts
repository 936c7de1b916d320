import type { JoinChallengeRow } from "../records.js";

export interface JoinChallengeStore {
  create(row: Omit<JoinChallengeRow, "usedAt">): Promise<void>;
  /** Marks the challenge used and returns it; undefined when unknown, used or expired (single use, atomically). */
  consume(idHash: string, purpose: string, now: Date): Promise<JoinChallengeRow | undefined>;
}
