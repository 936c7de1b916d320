import type { Clock } from "../../clock.js";
import { constantTimeEqual, randomHex, randomToken, sha256Hex } from "../../crypto/random.js";
import type { AuditEntry } from "../audit/audit-event.js";
import type { BoundedCache } from "../cache/bounded-cache.js";
import type { Caches } from "../cache/caches.js";
import { unauthenticated, type Reason } from "../errors.js";
import { networkKeys } from "../ratelimit/network.js";
import type { InvalidationBus } from "../invalidation.js";
import type { SessionRow, UserRow } from "../records.js";
import type { SessionStore } from "../store/session-store.js";
import type { UserStore } from "../store/user-store.js";
import type { DeviceStore } from "../store/device-store.js";
import { NO_SESSION_LIMITS, type SessionLimits, type SessionLimitSource } from "./session-limits.js";

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

export interface SessionManagerDeps {
  store: {
    sessions: Pick<SessionStore, "createWithAudit" | "findById" | "touch" | "revokeBeyondNewest">;
    users: Pick<UserStore, "findById">;
    devices: Pick<DeviceStore, "findById">;
  };
  bus: InvalidationBus;
  clock: Clock;
  timeouts: SessionTimeouts;
  caches: Caches;
  /** Organizations' session sections (max age, idle timeout, concurrency); none when absent. */
  limits?: SessionLimitSource;
}

export type DeadReason = Extract<Reason, "SESSION_REVOKED" | "SESSION_EXPIRED" | "SESSION_IDLE_TIMEOUT" | "USER_DISABLED" | "SESSION_NOT_FOUND">;

const SESSION_BEARER = /^wds_([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$/;
/** lastSeen is written at most this often (or half the idle timeout, if shorter), so validation stays a read. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Sessions live in the database; validation is cached per instance for a few seconds (bounded
 * in size) and revocation clears the cache here and, through the bus, on every other instance.
 */
export class SessionManager {
  private readonly cache: BoundedCache<string, LiveSession>;

  constructor(private readonly d: SessionManagerDeps) {
    this.cache = d.caches.create("sessions", { ttlSeconds: d.timeouts.cacheTtlSeconds });
    d.bus.on("session", (id) => this.cache.delete(id));
    d.bus.on("user", (userId) => this.cache.deleteWhere((live) => live.user.id === userId));
  }

  /**
   * Opens a session: its bearer and first refresh token are minted here, and the session, the
   * refresh token's hash and `event` are stored together in one round trip.
   */
  async open(
    input: { userId: string; authMethod: string; clientIp: string; userAgent: string; ttlSeconds?: number; mfaAt?: Date; deviceId?: string },
    event: Omit<AuditEntry, "targetType" | "targetId">,
  ): Promise<CreatedSession> {
    const now = this.d.clock.now();
    const id = randomHex(16);
    const secret = randomToken(32);
    const refreshToken = randomToken(32);
    const session = await this.d.store.sessions.createWithAudit(
      {
        id,
        secretHash: sha256Hex(secret),
        userId: input.userId,
        authMethod: input.authMethod,
        clientIp: input.clientIp,
        userAgent: input.userAgent.slice(0, 512),
        expiresAt: new Date(now.getTime() + Math.min(input.ttlSeconds ?? Infinity, this.d.timeouts.absoluteSeconds) * 1000),
        mfaAt: input.mfaAt,
        deviceId: input.deviceId,
        network: networkKeys(input.clientIp).subnet,
      },
      sha256Hex(refreshToken),
      { ...event, targetType: "session", targetId: id },
      now,
    );
    await this.enforceConcurrency(input.userId, now);
    return { session, bearer: `wds_${id}.${secret}`, refreshToken };
  }

  /** Past an organization's concurrency limit, a new session ends the user's oldest ones. */
  private async enforceConcurrency(userId: string, now: Date): Promise<void> {
    const { maxConcurrent } = await this.limitsOf(userId);
    if (maxConcurrent <= 0) return;
    const ended = await this.d.store.sessions.revokeBeyondNewest(userId, maxConcurrent, "session_limit", now);
    if (ended.length) await this.revoked(ended);
  }

  limitsOf(userId: string): Promise<SessionLimits> {
    return this.d.limits ? this.d.limits.limitsFor(userId) : Promise.resolve(NO_SESSION_LIMITS);
  }

  /**
   * Returns why a session is not usable, or undefined when it is. An organization's session
   * section can only tighten the server's limits, and applies to sessions opened before it changed.
   */
  deadReason(s: SessionRow, user: UserRow | undefined, limits: SessionLimits = NO_SESSION_LIMITS): DeadReason | undefined {
    const now = this.d.clock.now().getTime();
    if (s.revokedAt) return "SESSION_REVOKED";
    if (s.expiresAt.getTime() <= now) return "SESSION_EXPIRED";
    if (limits.maxAgeSeconds && s.createdAt.getTime() + limits.maxAgeSeconds * 1000 <= now) return "SESSION_EXPIRED";
    if (s.lastSeenAt.getTime() + this.idleSecondsOf(limits) * 1000 <= now) return "SESSION_IDLE_TIMEOUT";
    if (!user || user.disabled || user.deletedAt) return "USER_DISABLED";
    return undefined;
  }

  /** deadReason with the user's current organization limits. */
  async deadReasonNow(s: SessionRow, user: UserRow | undefined): Promise<DeadReason | undefined> {
    return this.deadReason(s, user, await this.limitsOf(s.userId));
  }

  private idleSecondsOf(limits: SessionLimits): number {
    return limits.idleSeconds ? Math.min(limits.idleSeconds, this.d.timeouts.idleSeconds) : this.d.timeouts.idleSeconds;
  }

  isActive(s: SessionRow): boolean {
    const now = this.d.clock.now().getTime();
    return !s.revokedAt && s.expiresAt.getTime() > now && s.lastSeenAt.getTime() + this.d.timeouts.idleSeconds * 1000 > now;
  }

  /** The live session and its user, or UNAUTHENTICATED. Database faults propagate (UNAVAILABLE). */
  async requireLive(sessionId: string): Promise<LiveSession> {
    return this.use(sessionId, () => true);
  }

  /** Accepts the `wds_<id>.<secret>` bearer form; a wrong secret leaves no trace on the session. */
  async requireLiveBearer(bearer: string): Promise<LiveSession> {
    const m = SESSION_BEARER.exec(bearer);
    if (!m) throw unauthenticated("SESSION_MALFORMED", "malformed session credential");
    const secretHash = sha256Hex(m[2]!);
    return this.use(m[1]!, (session) => constantTimeEqual(secretHash, session.secretHash));
  }

  /**
   * The session if it is live and `proves` accepts it: only then is it cached and its last use
   * written (a guess at a session's secret must not keep the session alive).
   */
  private async use(sessionId: string, proves: (s: SessionRow) => boolean): Promise<LiveSession> {
    const hit = this.cache.get(sessionId);
    // A cached session is checked again on every use: it may have expired while cached.
    if (hit && !this.deadReason(hit.session, hit.user, await this.limitsOf(hit.session.userId))) {
      if (!proves(hit.session)) throw unauthenticated("SESSION_NOT_FOUND", "session not found");
      return hit;
    }
    if (hit) this.cache.delete(sessionId);
    // Calls of one session that miss together (its entry just expired) share one read.
    const live = await this.cache.loadOnce(sessionId, () => this.load(sessionId));
    if (!proves(live.session)) throw unauthenticated("SESSION_NOT_FOUND", "session not found");
    await this.touchIfStale(live.session);
    this.cache.set(sessionId, live);
    return live;
  }

  isSessionBearer(token: string): boolean {
    return token.startsWith("wds_");
  }

  /** Call after the revoking transaction commits. */
  async revoked(sessionIds: string[]): Promise<void> {
    await this.d.bus.publish(sessionIds.map((id) => ({ topic: "session", id })));
  }

  /** Call after a user's roles or status changed, so the next call sees it. */
  async userChanged(userId: string): Promise<void> {
    await this.d.bus.publish([{ topic: "user", id: userId }]);
  }

  private async load(sessionId: string): Promise<LiveSession> {
    const session = await this.d.store.sessions.findById(sessionId);
    if (!session) throw unauthenticated("SESSION_NOT_FOUND", "session not found");
    const [user, limits, device] = await Promise.all([
      this.d.store.users.findById(session.userId),
      this.limitsOf(session.userId),
      // A device revoked while its sign-in was under way may have left a bound session behind.
      session.deviceId ? this.d.store.devices.findById(session.deviceId) : undefined,
    ]);
    const dead = device?.revokedAt ? "SESSION_REVOKED" : this.deadReason(session, user, limits);
    if (dead) throw unauthenticated(dead, "session is no longer valid");
    return { session, user: user! };
  }

  /** Touched well within the idle timeout, so a session in regular use never looks idle. */
  private async touchIfStale(session: SessionRow): Promise<void> {
    const now = this.d.clock.now();
    const idleSeconds = this.idleSecondsOf(await this.limitsOf(session.userId));
    if (now.getTime() - session.lastSeenAt.getTime() <= Math.min(TOUCH_INTERVAL_MS, (idleSeconds * 1000) / 2)) return;
    await this.d.store.sessions.touch(session.id, now);
    session.lastSeenAt = now;
  }
}
