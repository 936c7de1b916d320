import type { MfaChallengeRow, MfaFactorRow } from "../records.js";

export type NewMfaChallenge = Pick<MfaChallengeRow, "id" | "userId" | "authMethod" | "clientIp" | "userAgent" | "createdAt" | "expiresAt"> &
  Partial<Pick<MfaChallengeRow, "deviceId">>;

export interface MfaStore {
  createFactor(f: { userId: string; type: string; secretEncrypted: string }, now: Date): Promise<MfaFactorRow>;
  factors(userId: string): Promise<MfaFactorRow[]>;
  confirmedFactors(userId: string, type?: string): Promise<MfaFactorRow[]>;
  findFactor(id: string): Promise<MfaFactorRow | undefined>;
  /** Accepts a time step only if it is newer than every step accepted before (one statement). */
  claimStep(factorId: string, step: number, now: Date, confirm: boolean): Promise<MfaFactorRow | undefined>;
  setPendingCode(factorId: string, codeHash: string, expiresAt: Date): Promise<void>;
  /** Confirms a phone factor with its pending code, once. */
  confirmPendingCode(factorId: string, codeHash: string, now: Date): Promise<MfaFactorRow | undefined>;
  deleteFactor(id: string, userId: string): Promise<MfaFactorRow | undefined>;
  replaceRecoveryCodes(userId: string, hashes: string[], now: Date): Promise<void>;
  /** Uses a recovery code: of two parallel uses, exactly one matches the unused row. */
  useRecoveryCode(userId: string, codeHash: string, now: Date): Promise<boolean>;
  remainingRecoveryCodes(userId: string): Promise<number>;
  deleteRecoveryCodes(userId: string): Promise<void>;
  /** Every factor, recovery code and pending challenge of the user; returns how many factors there were. */
  deleteAllOf(userId: string): Promise<number>;
  createChallenge(c: NewMfaChallenge): Promise<MfaChallengeRow>;
  findPendingChallenge(id: string, now: Date): Promise<MfaChallengeRow | undefined>;
  /** Claims a pending challenge once: of two parallel completions, one wins. */
  claimChallenge(id: string, now: Date): Promise<MfaChallengeRow | undefined>;
  /** Counts a wrong code against the challenge; returns the failures so far. */
  countFailure(id: string): Promise<number>;
  setPhoneCode(id: string, phone: string, codeHash: string, expiresAt: Date): Promise<void>;
  /** Uses the challenge's phone code once. */
  usePhoneCode(id: string, codeHash: string, now: Date): Promise<boolean>;
}
