import type { AuditEntry } from "../../../../src/domain/audit/audit-event.js";
import type { SessionRow } from "../../../../src/domain/records.js";
import type { NewSession, RefreshTokenUse, SessionStore } from "../../../../src/domain/store/session-store.js";
import type { PageAfter } from "../../../../src/domain/store/user-store.js";
import { appendAudit } from "./audit-store.js";
import { copy, foreignKey, type Rows } from "./tables.js";

/** SessionRepository in memory, with refresh tokens. */
export class MemorySessionStore implements SessionStore {
  constructor(private readonly rows: Rows) {}

  private get t() {
    return this.rows.tables;
  }

  async createWithAudit(s: NewSession, refreshTokenHash: string, event: AuditEntry, now: Date): Promise<SessionRow> {
    const { network, ...session } = s;
    const row: SessionRow = {
      ...session,
      mfaAt: s.mfaAt ?? null,
      deviceId: s.deviceId ?? null,
      createdAt: now,
      lastSeenAt: now,
      revokedAt: null,
      revokeReason: null,
    };
    // One statement in PostgreSQL (CTEs of the audit append): the four rows, or none.
    return this.rows.statement((rows) => {
      foreignKey(this.t.users.has(s.userId), "sessions_user_id_users_id_fk");
      rows.insert(this.t.sessions, row.id, row, "sessions_pkey");
      rows.insert(
        this.t.refreshTokens,
        refreshTokenHash,
        { tokenHash: refreshTokenHash, sessionId: row.id, generation: 1, createdAt: now, usedAt: null, usedBy: null, successorSealed: null },
        "refresh_tokens_pkey",
      );
      const known = `${s.userId}|${network}`;
      rows.delete(this.t.knownNetworks, known); // on conflict do update
      rows.insert(this.t.knownNetworks, known, { userId: s.userId, network, lastSignInAt: now });
      appendAudit(rows, event, now);
      return copy(row);
    });
  }

  async findById(id: string): Promise<SessionRow | undefined> {
    const s = this.t.sessions.get(id);
    return s && copy(s);
  }

  async list(userId: string, limit: number, opts: { activeAt?: Date; idleCutoff?: Date; after?: PageAfter }): Promise<SessionRow[]> {
    const { activeAt, idleCutoff, after } = opts;
    return [...this.t.sessions.values()]
      .filter((s) => s.userId === userId)
      .filter((s) => !(activeAt && idleCutoff) || (!s.revokedAt && s.expiresAt > activeAt && s.lastSeenAt > idleCutoff))
      .filter((s) => !after || s.createdAt < after.createdAt || (s.createdAt.getTime() === after.createdAt.getTime() && s.id < after.id))
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
      .slice(0, limit)
      .map(copy);
  }

  async setMfaAt(id: string, at: Date): Promise<void> {
    this.rows.update(this.t.sessions, id, { mfaAt: at });
  }

  async touch(id: string, now: Date): Promise<void> {
    this.rows.update(this.t.sessions, id, { lastSeenAt: now });
  }

  async revoke(id: string, reason: string, now: Date): Promise<SessionRow | undefined> {
    const s = this.t.sessions.get(id);
    if (!s || s.revokedAt) return undefined;
    return this.rows.update(this.t.sessions, id, { revokedAt: now, revokeReason: reason });
  }

  async revokeAllForUser(userId: string, reason: string, now: Date, exceptId?: string): Promise<string[]> {
    const ids = [...this.t.sessions.values()].filter((s) => s.userId === userId && !s.revokedAt && s.id !== exceptId).map((s) => s.id);
    for (const id of ids) this.rows.update(this.t.sessions, id, { revokedAt: now, revokeReason: reason });
    return ids;
  }

  async revokeBeyondNewest(userId: string, keep: number, reason: string, now: Date): Promise<string[]> {
    return this.revokeRanked((uid) => uid === userId, keep, reason, now);
  }

  async revokeBeyondNewestInOrganization(organizationId: string, keep: number, reason: string, now: Date): Promise<string[]> {
    const members = new Set([...this.t.memberships.values()].filter((m) => m.organizationId === organizationId).map((m) => m.userId));
    return this.revokeRanked((uid) => members.has(uid), keep, reason, now);
  }

  private revokeRanked(isUser: (userId: string) => boolean, keep: number, reason: string, now: Date): string[] {
    const live = [...this.t.sessions.values()].filter((s) => isUser(s.userId) && !s.revokedAt && s.expiresAt > now);
    const byUser = new Map<string, typeof live>();
    for (const s of live) byUser.set(s.userId, [...(byUser.get(s.userId) ?? []), s]);
    const ended: string[] = [];
    for (const sessions of byUser.values()) {
      sessions.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id));
      for (const s of sessions.slice(keep)) {
        this.rows.update(this.t.sessions, s.id, { revokedAt: now, revokeReason: reason });
        ended.push(s.id);
      }
    }
    return ended;
  }

  async countActive(now: Date, idleCutoff: Date): Promise<number> {
    return [...this.t.sessions.values()].filter((s) => !s.revokedAt && s.expiresAt > now && s.lastSeenAt > idleCutoff).length;
  }

  async addRefreshToken(tokenHash: string, sessionId: string, generation: number, now: Date): Promise<void> {
    foreignKey(this.t.sessions.has(sessionId), "refresh_tokens_session_id_sessions_id_fk");
    this.rows.insert(
      this.t.refreshTokens,
      tokenHash,
      { tokenHash, sessionId, generation, createdAt: now, usedAt: null, usedBy: null, successorSealed: null },
      "refresh_tokens_pkey",
    );
  }

  async claimRefreshToken(tokenHash: string, now: Date, use: RefreshTokenUse): Promise<{ sessionId: string; generation: number } | undefined> {
    const t = this.t.refreshTokens.get(tokenHash);
    if (!t || t.usedAt) return undefined; // only an unused token is claimed
    this.rows.update(this.t.refreshTokens, tokenHash, { usedAt: now, usedBy: use.usedBy, successorSealed: use.successorSealed });
    return { sessionId: t.sessionId, generation: t.generation };
  }

  async findRefreshToken(tokenHash: string): Promise<(Partial<RefreshTokenUse> & { sessionId: string; usedAt: Date | null }) | undefined> {
    const t = this.t.refreshTokens.get(tokenHash);
    return (
      t && { sessionId: t.sessionId, usedAt: t.usedAt && new Date(t.usedAt), usedBy: t.usedBy ?? undefined, successorSealed: t.successorSealed ?? undefined }
    );
  }
}
