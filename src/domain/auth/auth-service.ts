import type { Clock } from "../../clock.js";
import type { PasswordHasher } from "../../crypto/password-hasher.js";
import { randomToken, sha256Hex } from "../../crypto/random.js";
import type { TokenService } from "../../crypto/token-service.js";
import type { AuditLog } from "../audit/audit-log.js";
import { whereFrom } from "../audit/audit-actor.js";
import type { AuditEventType } from "../audit/audit-events.js";
import type { UserRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { SessionStore } from "../store/session-store.js";
import type { Ports } from "../store/transactional.js";
import type { UserStore } from "../store/user-store.js";
import { DomainError, invalidArgument, invalidCredentials, unauthenticated } from "../errors.js";
import type { UserPrincipal } from "../principal.js";
import type { SessionManager } from "../session/session-manager.js";
import { checkDisplayName, normalizeEmail } from "./email.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import { checkPasswordLength, type PasswordPolicy } from "./password-policy.js";
import type { RequestMeta } from "./request-meta.js";
import type { SignIn, SignInResult } from "./sign-in.js";

export interface AuthDeps {
  store: Ports<{
    users: Pick<UserStore, "create" | "findByEmailForSignIn" | "findById" | "update">;
    sessions: Pick<SessionStore, "claimRefreshToken" | "findRefreshToken" | "revoke" | "findById" | "addRefreshToken" | "touch" | "revokeAllForUser">;
    audit: Pick<AuditStore, "append">;
  }>;
  clock: Clock;
  sessions: SessionManager;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  limiter: BruteForce;
  tokens: TokenService;
  audit: AuditLog;
  signIn: SignIn;
}

const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** Password sign-up and sign-in, refresh rotation and sign-out. */
export class AuthService {
  constructor(private readonly d: AuthDeps) {}

  async register(input: { email: string; password: string; displayName: string }, meta: RequestMeta): Promise<UserRow> {
    const email = normalizeEmail(input.email);
    const displayName = checkDisplayName(input.displayName);
    this.d.policy.check(input.password, [email, email.split("@")[0]!, displayName]);
    const passwordHash = await this.d.hasher.hash(input.password);
    return this.d.store.transaction(async (tx) => {
      const user = await tx.users.create({ email, displayName, passwordHash }, this.d.clock.now());
      if (!user) throw new DomainError("already_exists", "EMAIL_TAKEN", "an account with this email already exists");
      await this.d.audit.record(tx, {
        eventType: "auth.register",
        outcome: "success",
        actorType: "user",
        actorId: user.id,
        targetType: "user",
        targetId: user.id,
        ...whereFrom(meta),
      });
      return user;
    });
  }

  /**
   * Checks email and password with the same answer, message and cost for an unknown email
   * and a wrong password. A point is taken from the account's failure budget first.
   */
  async checkPassword(
    rawEmail: string,
    password: string,
    eventType: AuditEventType & ("auth.login" | "auth.verify_credentials" | "auth.change_password"),
    meta: RequestMeta,
  ): Promise<UserRow & { hasMfa: boolean }> {
    checkPasswordLength(password);
    const email = normalizeEmail(rawEmail);
    await this.d.limiter.takeAccount(email);
    let user: (UserRow & { hasMfa: boolean }) | undefined;
    let ok = false;
    try {
      user = await this.d.store.users.findByEmailForSignIn(email);
      if (user?.passwordHash) ok = await this.d.hasher.verify(user.passwordHash, password);
      else await this.d.hasher.verifyDummy(password);
    } catch (err) {
      // A database fault is no failed guess: clients retrying through an outage must not lock the account.
      await this.d.limiter.accountRefund(email).catch(() => {});
      throw err;
    }
    const failure = !ok ? "bad_credentials" : user!.disabled ? "user_disabled" : undefined;
    if (failure) {
      await this.d.audit.recordAlone({
        eventType,
        outcome: "failure",
        actorType: "user",
        actorId: user?.id ?? "",
        targetType: "user",
        targetId: user?.id ?? "",
        details: { reason: failure, email_sha256: sha256Hex(email).slice(0, 16) },
        ...whereFrom(meta),
      });
      throw invalidCredentials();
    }
    await this.d.limiter.accountSucceeded(email);
    return user!;
  }

  /** Password sign-in: tokens, or an MFA challenge for a user with a second factor. */
  async login(email: string, password: string, meta: RequestMeta, authMethod = "password"): Promise<SignInResult> {
    const user = await this.checkPassword(email, password, "auth.login", meta);
    return this.d.signIn.start(user, authMethod, meta, { amr: ["pwd"], mfaSatisfied: false, hasMfa: user.hasMfa });
  }

  async verifyCredentials(email: string, password: string, meta: RequestMeta): Promise<UserRow> {
    const user = await this.checkPassword(email, password, "auth.verify_credentials", meta);
    await this.d.audit.recordAlone({
      eventType: "auth.verify_credentials",
      outcome: "success",
      actorType: "user",
      actorId: user.id,
      targetType: "user",
      targetId: user.id,
      ...whereFrom(meta),
    });
    return user;
  }

  /**
   * Rotates a refresh token. The old one is claimed in one statement; presenting a token that
   * was already used revokes its whole session (RFC 9700 reuse detection).
   */
  async refresh(refreshToken: string, meta: RequestMeta): Promise<{ accessToken: string; refreshToken: string; expiresAt: Date }> {
    if (!REFRESH_TOKEN.test(refreshToken)) throw unauthenticated("REFRESH_TOKEN_INVALID", "invalid refresh token");
    const hash = sha256Hex(refreshToken);
    const outcome = await this.d.store.transaction(async (tx) => {
      const now = this.d.clock.now();
      const claimed = await tx.sessions.claimRefreshToken(hash, now);
      if (!claimed) {
        const known = await tx.sessions.findRefreshToken(hash);
        if (!known) return { error: "REFRESH_TOKEN_INVALID" } as const;
        const revoked = await tx.sessions.revoke(known.sessionId, "refresh_token_reuse", now);
        const session = revoked ?? (await tx.sessions.findById(known.sessionId));
        await this.d.audit.record(tx, {
          eventType: "auth.refresh_reuse",
          outcome: "failure",
          actorType: "user",
          actorId: session?.userId ?? "",
          targetType: "session",
          targetId: known.sessionId,
          details: { action: "session_revoked" },
          ...whereFrom(meta),
        });
        return { error: "REFRESH_TOKEN_REUSED", revokedSession: known.sessionId } as const;
      }
      const session = await tx.sessions.findById(claimed.sessionId);
      const user = session && (await tx.users.findById(session.userId));
      const dead = session ? this.d.sessions.deadReason(session, user) : "SESSION_NOT_FOUND";
      if (dead) return { error: dead } as const;
      // A locked account gets no token from any path; throwing rolls the claim back, so the
      // refresh token works again once the lock has passed.
      await this.d.limiter.checkAccount(user!.email);
      const next = randomToken(32);
      await tx.sessions.addRefreshToken(sha256Hex(next), session!.id, claimed.generation + 1, now);
      await tx.sessions.touch(session!.id, now);
      await this.d.audit.record(tx, {
        eventType: "auth.refresh",
        outcome: "success",
        actorType: "user",
        actorId: session!.userId,
        targetType: "session",
        targetId: session!.id,
        details: { generation: String(claimed.generation + 1) },
        ...whereFrom(meta),
      });
      return { session: session!, next } as const;
    });
    if ("error" in outcome) {
      if ("revokedSession" in outcome && outcome.revokedSession) await this.d.sessions.revoked([outcome.revokedSession]);
      throw unauthenticated(
        outcome.error,
        outcome.error === "REFRESH_TOKEN_REUSED" ? "refresh token already used; the session was revoked" : "invalid refresh token",
      );
    }
    const amr = outcome.session.mfaAt ? ["pwd", "mfa"] : ["pwd"];
    const access = await this.d.tokens.issue({
      sub: outcome.session.userId,
      sid: outcome.session.id,
      tokenType: "access",
      amr,
      authTime: outcome.session.mfaAt ?? undefined,
    });
    return { accessToken: access.token, refreshToken: outcome.next, expiresAt: access.expiresAt };
  }

  async logout(principal: UserPrincipal, meta: RequestMeta): Promise<void> {
    await this.d.store.transaction(async (tx) => {
      await tx.sessions.revoke(principal.sessionId, "logout", this.d.clock.now());
      await this.d.audit.record(tx, {
        eventType: "auth.logout",
        outcome: "success",
        actorType: "user",
        actorId: principal.userId,
        targetType: "session",
        targetId: principal.sessionId,
        ...whereFrom(meta),
      });
    });
    await this.d.sessions.revoked([principal.sessionId]);
  }

  async changePassword(principal: UserPrincipal, current: string, next: string, meta: RequestMeta): Promise<number> {
    checkPasswordLength(next, "new_password");
    const user = await this.d.store.users.findById(principal.userId);
    if (!user) throw unauthenticated();
    await this.checkPassword(user.email, current, "auth.change_password", meta).catch((err) => {
      if (err instanceof DomainError && err.reason === "INVALID_CREDENTIALS")
        throw invalidArgument("current_password", "is not correct", "CURRENT_PASSWORD_WRONG");
      throw err;
    });
    if (current === next) throw invalidArgument("new_password", "must differ from the current password");
    this.d.policy.check(next, [user.email, user.displayName], "new_password");
    const hash = await this.d.hasher.hash(next);
    const revoked = await this.d.store.transaction(async (tx) => {
      const now = this.d.clock.now();
      await tx.users.update(user.id, { passwordHash: hash, passwordChangedAt: now }, now);
      const ids = await tx.sessions.revokeAllForUser(user.id, "password_changed", now, principal.sessionId);
      await this.d.audit.record(tx, {
        eventType: "auth.change_password",
        outcome: "success",
        actorType: "user",
        actorId: user.id,
        targetType: "user",
        targetId: user.id,
        details: { revoked_sessions: String(ids.length) },
        ...whereFrom(meta),
      });
      return ids;
    });
    await this.d.sessions.revoked(revoked);
    return revoked.length;
  }
}
