import type { AuditEntry } from "../audit/audit-event.js";
import type { SessionRow } from "../records.js";
import type { PageAfter } from "./user-store.js";

export interface NewSession {
  id: string;
  secretHash: string;
  userId: string;
  authMethod: string;
  clientIp: string;
  userAgent: string;
  expiresAt: Date;
  mfaAt?: Date;
  /** The device that proved itself at sign-in; the session is bound to it. */
  deviceId?: string;
  /** The client's network (/24, /64): remembered as one the user signs in from. */
  network: string;
}

export interface RefreshTokenUse {
  /** A fingerprint of the client that used it (address and user agent, hashed). */
  usedBy: string;
  /** The refresh token issued in its place, sealed with the master key. */
  successorSealed: string;
}

export interface SessionStore {
  /**
   * Stores a session, its first refresh token and the audit event that records it, and
   * remembers the network as one the user signs in from: all or nothing, in one round trip
   * (sign-in is a hot path).
   */
  createWithAudit(session: NewSession, refreshTokenHash: string, event: AuditEntry, now: Date): Promise<SessionRow>;
  findById(id: string): Promise<SessionRow | undefined>;
  list(userId: string, limit: number, opts: { activeAt?: Date; idleCutoff?: Date; after?: PageAfter }): Promise<SessionRow[]>;
  setMfaAt(id: string, at: Date): Promise<void>;
  touch(id: string, now: Date): Promise<void>;
  /** Undefined when the session was revoked already. */
  revoke(id: string, reason: string, now: Date): Promise<SessionRow | undefined>;
  /** Ids of the sessions it revoked. */
  revokeAllForUser(userId: string, reason: string, now: Date, exceptId?: string): Promise<string[]>;
  countActive(now: Date, idleCutoff: Date): Promise<number>;
  /** Revokes the user's live sessions but the newest `keep`; ids of those it revoked. */
  revokeBeyondNewest(userId: string, keep: number, reason: string, now: Date): Promise<string[]>;
  /** The same for every member of an organization (its concurrency limit was tightened). */
  revokeBeyondNewestInOrganization(organizationId: string, keep: number, reason: string, now: Date): Promise<string[]>;
  addRefreshToken(tokenHash: string, sessionId: string, generation: number, now: Date): Promise<void>;
  /**
   * Marks an unused refresh token used in one statement (of two racing callers, one wins),
   * recording who used it and its successor, sealed, for the grace window of a retried refresh.
   */
  claimRefreshToken(tokenHash: string, now: Date, use: RefreshTokenUse): Promise<{ sessionId: string; generation: number } | undefined>;
  findRefreshToken(tokenHash: string): Promise<(Partial<RefreshTokenUse> & { sessionId: string; usedAt: Date | null }) | undefined>;
}
