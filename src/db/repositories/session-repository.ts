import { and, desc, eq, gt, isNull, lt, ne, or, sql, type SQL } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { refreshTokens, sessions, type SessionRow } from "../schema/index.js";
import type { AuditEntry, LinkKeyPads } from "../../domain/audit/audit-event.js";
import type { NewSession, RefreshTokenUse, SessionStore } from "../../domain/store/session-store.js";
import type { PageAfter } from "../../domain/store/user-store.js";
import { appendStatement } from "./audit-repository.js";
import { rowsOf } from "../rows.js";

export class SessionRepository implements SessionStore {
  constructor(
    private readonly db: DbOrTx,
    // The audit chain key: sign-in's event is linked inside its one statement.
    private readonly chainKey: LinkKeyPads,
  ) {}

  async createWithAudit(s: NewSession, refreshTokenHash: string, event: AuditEntry, now: Date): Promise<SessionRow> {
    const { network, ...stored } = s;
    const row: SessionRow = {
      ...stored,
      mfaAt: s.mfaAt ?? null,
      deviceId: s.deviceId ?? null,
      createdAt: now,
      lastSeenAt: now,
      revokedAt: null,
      revokeReason: null,
    };
    // The session and its refresh token as CTEs of the audit append: one statement, all or nothing.
    const change = sql`
      new_session as (
        insert into sessions (id, secret_hash, user_id, auth_method, client_ip, user_agent, created_at, last_seen_at, expires_at, mfa_at, device_id)
        values (${row.id}, ${row.secretHash}, ${row.userId}, ${row.authMethod}, ${row.clientIp}, ${row.userAgent},
                ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz, ${row.expiresAt.toISOString()}::timestamptz,
                ${row.mfaAt ? row.mfaAt.toISOString() : null}::timestamptz, ${row.deviceId}::uuid)
        returning id
      ), new_refresh_token as (
        insert into refresh_tokens (token_hash, session_id, generation, created_at)
        select ${refreshTokenHash}, new_session.id, 1, ${now.toISOString()}::timestamptz from new_session
      ), known_network as (
        insert into known_networks (user_id, network, last_sign_in_at)
        select ${row.userId}, ${network}, ${now.toISOString()}::timestamptz from new_session
        on conflict (user_id, network) do update set last_sign_in_at = excluded.last_sign_in_at
      )`;
    await this.db.execute(appendStatement(this.chainKey, event, now, change));
    return row;
  }

  async findById(id: string): Promise<SessionRow | undefined> {
    const [row] = await this.db.select().from(sessions).where(eq(sessions.id, id));
    return row;
  }

  async list(userId: string, limit: number, opts: { activeAt?: Date; idleCutoff?: Date; after?: PageAfter }): Promise<SessionRow[]> {
    const conditions = [eq(sessions.userId, userId)];
    if (opts.activeAt && opts.idleCutoff)
      conditions.push(isNull(sessions.revokedAt), gt(sessions.expiresAt, opts.activeAt), gt(sessions.lastSeenAt, opts.idleCutoff));
    if (opts.after)
      conditions.push(or(lt(sessions.createdAt, opts.after.createdAt), and(eq(sessions.createdAt, opts.after.createdAt), lt(sessions.id, opts.after.id)))!);
    return this.db
      .select()
      .from(sessions)
      .where(and(...conditions))
      .orderBy(desc(sessions.createdAt), desc(sessions.id))
      .limit(limit);
  }

  async setMfaAt(id: string, at: Date): Promise<void> {
    await this.db.update(sessions).set({ mfaAt: at }).where(eq(sessions.id, id));
  }

  async touch(id: string, now: Date): Promise<void> {
    await this.db.update(sessions).set({ lastSeenAt: now }).where(eq(sessions.id, id));
  }

  async revoke(id: string, reason: string, now: Date): Promise<SessionRow | undefined> {
    const [row] = await this.db
      .update(sessions)
      .set({ revokedAt: now, revokeReason: reason })
      .where(and(eq(sessions.id, id), isNull(sessions.revokedAt)))
      .returning();
    return row;
  }

  async revokeAllForUser(userId: string, reason: string, now: Date, exceptId?: string): Promise<string[]> {
    const conditions = [eq(sessions.userId, userId), isNull(sessions.revokedAt)];
    if (exceptId) conditions.push(ne(sessions.id, exceptId));
    const rows = await this.db
      .update(sessions)
      .set({ revokedAt: now, revokeReason: reason })
      .where(and(...conditions))
      .returning({ id: sessions.id });
    return rows.map((r) => r.id);
  }

  async revokeBeyondNewest(userId: string, keep: number, reason: string, now: Date): Promise<string[]> {
    return this.revokeRanked(sql`s.user_id = ${userId}`, keep, reason, now);
  }

  async revokeBeyondNewestInOrganization(organizationId: string, keep: number, reason: string, now: Date): Promise<string[]> {
    return this.revokeRanked(sql`s.user_id in (select user_id from memberships where organization_id = ${organizationId})`, keep, reason, now);
  }

  /** One statement: rank each user's live sessions newest first and end those past `keep`. */
  private async revokeRanked(users: SQL, keep: number, reason: string, now: Date): Promise<string[]> {
    const at = now.toISOString();
    const rows = await this.db.execute<{ id: string }>(sql`
      update sessions set revoked_at = ${at}::timestamptz, revoke_reason = ${reason}
      where id in (
        select id from (
          select s.id, row_number() over (partition by s.user_id order by s.created_at desc, s.id desc) as rank
          from sessions s
          where ${users} and s.revoked_at is null and s.expires_at > ${at}::timestamptz
        ) ranked where rank > ${keep}
      ) and revoked_at is null
      returning id`);
    return rowsOf<{ id: string }>(rows).map((r) => r.id);
  }

  async countActive(now: Date, idleCutoff: Date): Promise<number> {
    const [row] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(sessions)
      .where(and(isNull(sessions.revokedAt), gt(sessions.expiresAt, now), gt(sessions.lastSeenAt, idleCutoff)));
    return Number(row?.n ?? 0);
  }

  async addRefreshToken(tokenHash: string, sessionId: string, generation: number, now: Date): Promise<void> {
    await this.db.insert(refreshTokens).values({ tokenHash, sessionId, generation, createdAt: now });
  }

  /** Marks an unused refresh token used in one statement: of two racing callers, one wins. */
  async claimRefreshToken(tokenHash: string, now: Date, use: RefreshTokenUse): Promise<{ sessionId: string; generation: number } | undefined> {
    const [row] = await this.db
      .update(refreshTokens)
      .set({ usedAt: now, usedBy: use.usedBy, successorSealed: use.successorSealed })
      .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.usedAt)))
      .returning({ sessionId: refreshTokens.sessionId, generation: refreshTokens.generation });
    return row;
  }

  async findRefreshToken(tokenHash: string): Promise<(Partial<RefreshTokenUse> & { sessionId: string; usedAt: Date | null }) | undefined> {
    const [row] = await this.db
      .select({
        sessionId: refreshTokens.sessionId,
        usedAt: refreshTokens.usedAt,
        usedBy: refreshTokens.usedBy,
        successorSealed: refreshTokens.successorSealed,
      })
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, tokenHash));
    return row && { sessionId: row.sessionId, usedAt: row.usedAt, usedBy: row.usedBy ?? undefined, successorSealed: row.successorSealed ?? undefined };
  }
}
