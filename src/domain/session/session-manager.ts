import type { SQL } from "drizzle-orm";
import type { Clock } from "../../clock.js";
import { constantTimeEqual, randomHex, randomToken, sha256Hex } from "../../crypto/random.js";
import type { Database } from "../../db/client.js";
import type { SessionRepository } from "../../db/repositories/session-repository.js";
import type { UserRepository } from "../../db/repositories/user-repository.js";
import type { SessionRow, UserRow } from "../../db/schema/index.js";
import { unauthenticated } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";

export interface SessionTimeouts {
  idleSeconds: number;
  absoluteSeconds: number;
  cacheTtlSeconds: number;
}

export interface LiveSession {
  session: SessionRow;
  user: UserRow;
}

export interface CreatedSession {
  session: SessionRow;
  /** `wds_<id>.<secret>`: the session's own bearer credential. */
  bearer: string;
  refreshToken: string;
}

const SESSION_BEARER = /^wds_([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$/;
/** lastSeen is written at most this often, so validation stays a read. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Sessions live in the database; validation is cached per instance for a few seconds and
 * revocation clears the cache here and, through LISTEN/NOTIFY, on every other instance.
 */
export class SessionManager {
  private readonly cache = new Map<string, { live: LiveSession; cachedAt: number }>();

  constructor(
    private readonly database: Database,
    private readonly bus: InvalidationBus,
    private readonly sessions: SessionRepository,
    private readonly users: UserRepository,
    private readonly clock: Clock,
    private readonly timeouts: SessionTimeouts,
  ) {}

  start(): void {
    this.bus.subscribe((tag) => this.forget(tag));
  }

  /**
   * A new session with its bearer and first refresh token, not yet stored: `change` is the SQL
   * that stores it, for the caller to write in one statement with the audit event.
   */
  build(input: {
    userId: string;
    authMethod: string;
    clientIp: string;
    userAgent: string;
    ttlSeconds?: number;
    mfaAt?: Date;
  }): CreatedSession & { change: SQL } {
    const now = this.clock.now();
    const id = randomHex(16);
    const secret = randomToken(32);
    const refreshToken = randomToken(32);
    const { row, change } = this.sessions.creation(
      {
        id,
        secretHash: sha256Hex(secret),
        userId: input.userId,
        authMethod: input.authMethod,
        clientIp: input.clientIp,
        userAgent: input.userAgent.slice(0, 512),
        expiresAt: new Date(now.getTime() + Math.min(input.ttlSeconds ?? Infinity, this.timeouts.absoluteSeconds) * 1000),
        mfaAt: input.mfaAt,
      },
      sha256Hex(refreshToken),
      now,
    );
    return { session: row, bearer: `wds_${id}.${secret}`, refreshToken, change };
  }

  /** Returns why a session is not usable, or undefined when it is. */
  deadReason(s: SessionRow, user: UserRow | undefined): string | undefined {
    const now = this.clock.now().getTime();
    if (s.revokedAt) return "SESSION_REVOKED";
    if (s.expiresAt.getTime() <= now) return "SESSION_EXPIRED";
    if (s.lastSeenAt.getTime() + this.timeouts.idleSeconds * 1000 <= now) return "SESSION_IDLE_TIMEOUT";
    if (!user || user.disabled || user.deletedAt) return "USER_DISABLED";
    return undefined;
  }

  isActive(s: SessionRow): boolean {
    const now = this.clock.now().getTime();
    return !s.revokedAt && s.expiresAt.getTime() > now && s.lastSeenAt.getTime() + this.timeouts.idleSeconds * 1000 > now;
  }

  /** The live session and its user, or UNAUTHENTICATED. Database faults propagate (UNAVAILABLE). */
  async requireLive(sessionId: string): Promise<LiveSession> {
    const nowMs = this.clock.now().getTime();
    const hit = this.cache.get(sessionId);
    if (hit && nowMs - hit.cachedAt < this.timeouts.cacheTtlSeconds * 1000 && !this.deadReason(hit.live.session, hit.live.user)) return hit.live;
    this.cache.delete(sessionId);
    const session = await this.sessions.findById(this.database.db, sessionId);
    if (!session) throw unauthenticated("SESSION_NOT_FOUND", "session not found");
    const user = await this.users.findById(this.database.db, session.userId);
    const dead = this.deadReason(session, user);
    if (dead) throw unauthenticated(dead, "session is no longer valid");
    if (nowMs - session.lastSeenAt.getTime() > TOUCH_INTERVAL_MS) {
      await this.sessions.touch(this.database.db, session.id, this.clock.now());
      session.lastSeenAt = this.clock.now();
    }
    const live = { session, user: user! };
    this.cache.set(sessionId, { live, cachedAt: nowMs });
    return live;
  }

  /** Accepts the `wds_<id>.<secret>` bearer form. */
  async requireLiveBearer(bearer: string): Promise<LiveSession> {
    const m = SESSION_BEARER.exec(bearer);
    if (!m) throw unauthenticated("SESSION_MALFORMED", "malformed session credential");
    const live = await this.requireLive(m[1]!);
    if (!constantTimeEqual(sha256Hex(m[2]!), live.session.secretHash)) throw unauthenticated("SESSION_NOT_FOUND", "session not found");
    return live;
  }

  isSessionBearer(token: string): boolean {
    return token.startsWith("wds_");
  }

  /** Call after the revoking transaction commits. */
  async revoked(sessionIds: string[]): Promise<void> {
    await this.bus.publish(sessionIds.map((id) => `session:${id}`));
  }

  /** Call after a user's admin flag, roles or status changed, so the next call sees it. */
  async userChanged(userId: string): Promise<void> {
    await this.bus.publish([`user:${userId}`]);
  }

  private forget(tag: string): void {
    if (tag.startsWith("session:")) this.cache.delete(tag.slice(8));
    else if (tag.startsWith("user:")) {
      const userId = tag.slice(5);
      for (const [id, entry] of this.cache) if (entry.live.user.id === userId) this.cache.delete(id);
    }
  }
}
