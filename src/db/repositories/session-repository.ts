import { and, desc, eq, gt, isNull, lt, ne, or, sql, type SQL } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { refreshTokens, sessions, type SessionRow } from "../schema/index.js";

export interface NewSession {
  id: string;
  secretHash: string;
  userId: string;
  authMethod: string;
  clientIp: string;
  userAgent: string;
  expiresAt: Date;
  mfaAt?: Date;
}

export interface SessionPageCursor {
  createdAt: Date;
  id: string;
}

export class SessionRepository {
  /**
   * The CTEs that insert a session and its first refresh token. Sign-in writes them in the
   * statement that appends the audit event, so all three commit together in one round trip.
   */
  creation(s: NewSession, refreshTokenHash: string, now: Date): { row: SessionRow; change: SQL } {
    const row: SessionRow = { ...s, mfaAt: s.mfaAt ?? null, createdAt: now, lastSeenAt: now, revokedAt: null, revokeReason: null };
    const change = sql`
      new_session as (
        insert into sessions (id, secret_hash, user_id, auth_method, client_ip, user_agent, created_at, last_seen_at, expires_at, mfa_at)
        values (${row.id}, ${row.secretHash}, ${row.userId}, ${row.authMethod}, ${row.clientIp}, ${row.userAgent},
                ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz, ${row.expiresAt.toISOString()}::timestamptz,
                ${row.mfaAt ? row.mfaAt.toISOString() : null}::timestamptz)
        returning id
      ), new_refresh_token as (
        insert into refresh_tokens (token_hash, session_id, generation, created_at)
        select ${refreshTokenHash}, new_session.id, 1, ${now.toISOString()}::timestamptz from new_session
      )`;
    return { row, change };
  }

  async findById(db: DbOrTx, id: string): Promise<SessionRow | undefined> {
    const [row] = await db.select().from(sessions).where(eq(sessions.id, id));
    return row;
  }

  async list(db: DbOrTx, userId: string, limit: number, opts: { activeAt?: Date; idleCutoff?: Date; after?: SessionPageCursor }): Promise<SessionRow[]> {
    const conditions = [eq(sessions.userId, userId)];
    if (opts.activeAt && opts.idleCutoff)
      conditions.push(isNull(sessions.revokedAt), gt(sessions.expiresAt, opts.activeAt), gt(sessions.lastSeenAt, opts.idleCutoff));
    if (opts.after)
      conditions.push(or(lt(sessions.createdAt, opts.after.createdAt), and(eq(sessions.createdAt, opts.after.createdAt), lt(sessions.id, opts.after.id)))!);
    return db
      .select()
      .from(sessions)
      .where(and(...conditions))
      .orderBy(desc(sessions.createdAt), desc(sessions.id))
      .limit(limit);
  }

  async setMfaAt(db: DbOrTx, id: string, at: Date): Promise<void> {
    await db.update(sessions).set({ mfaAt: at }).where(eq(sessions.id, id));
  }

  async touch(db: DbOrTx, id: string, now: Date): Promise<void> {
    await db.update(sessions).set({ lastSeenAt: now }).where(eq(sessions.id, id));
  }

  async revoke(db: DbOrTx, id: string, reason: string, now: Date): Promise<SessionRow | undefined> {
    const [row] = await db
      .update(sessions)
      .set({ revokedAt: now, revokeReason: reason })
      .where(and(eq(sessions.id, id), isNull(sessions.revokedAt)))
      .returning();
    return row;
  }

  async revokeAllForUser(db: DbOrTx, userId: string, reason: string, now: Date, exceptId?: string): Promise<string[]> {
    const conditions = [eq(sessions.userId, userId), isNull(sessions.revokedAt)];
    if (exceptId) conditions.push(ne(sessions.id, exceptId));
    const rows = await db
      .update(sessions)
      .set({ revokedAt: now, revokeReason: reason })
      .where(and(...conditions))
      .returning({ id: sessions.id });
    return rows.map((r) => r.id);
  }

  async countActive(db: DbOrTx, now: Date, idleCutoff: Date): Promise<number> {
    const [row] = await db
      .select({ n: sql<number>`count(*)::int` })
      .from(sessions)
      .where(and(isNull(sessions.revokedAt), gt(sessions.expiresAt, now), gt(sessions.lastSeenAt, idleCutoff)));
    return Number(row?.n ?? 0);
  }

  async addRefreshToken(db: DbOrTx, tokenHash: string, sessionId: string, generation: number, now: Date): Promise<void> {
    await db.insert(refreshTokens).values({ tokenHash, sessionId, generation, createdAt: now });
  }

  /** Marks an unused refresh token used in one statement: of two racing callers, one wins. */
  async claimRefreshToken(db: DbOrTx, tokenHash: string, now: Date): Promise<{ sessionId: string; generation: number } | undefined> {
    const [row] = await db
      .update(refreshTokens)
      .set({ usedAt: now })
      .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.usedAt)))
      .returning({ sessionId: refreshTokens.sessionId, generation: refreshTokens.generation });
    return row;
  }

  async findRefreshToken(db: DbOrTx, tokenHash: string): Promise<{ sessionId: string; usedAt: Date | null } | undefined> {
    const [row] = await db
      .select({ sessionId: refreshTokens.sessionId, usedAt: refreshTokens.usedAt })
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, tokenHash));
    return row;
  }
}
