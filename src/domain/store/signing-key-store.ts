import type { SigningKeyRow } from "../records.js";

export interface SigningKeyStore {
  all(): Promise<SigningKeyRow[]>;
  current(algorithm: string): Promise<SigningKeyRow | undefined>;
  insert(row: Omit<SigningKeyRow, "retiredAt" | "verifyUntil">): Promise<void>;
  /** Retires every signing key of the algorithm except `keepKid`; returns their kids. */
  retireOthers(algorithm: string, keepKid: string, now: Date, verifyUntil: Date): Promise<string[]>;
  /** Serializes rotation between instances for the rest of the transaction. */
  lockRotation(): Promise<void>;
}
