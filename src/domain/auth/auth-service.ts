import type { Clock } from "../../clock.js";
import type { PasswordHasher } from "../../crypto/password-hasher.js";
import { constantTimeEqual, randomToken, sha256Hex } from "../../crypto/random.js";
import type { SecretBox } from "../../crypto/master-key.js";
import type { TokenService } from "../../crypto/token-service.js";
import type { AuditLog } from "../audit/audit-log.js";
import { whereFrom } from "../audit/audit-actor.js";
import type { AuditEventType } from "../audit/audit-events.js";
import type { SessionRow, UserRow } from "../records.js";
import type { Reason } from "../errors.js";
import type { DeadReason } from "../session/session-manager.js";
import type { AuditStore } from "../store/audit-store.js";
import type { SessionStore } from "../store/session-store.js";
import type { Ports } from "../store/transactional.js";
import type { UserStore } from "../store/user-store.js";
import { DomainError, invalidArgument, invalidCredentials, unauthenticated } from "../errors.js";
import type { UserPrincipal } from "../principal.js";
import type { SessionManager } from "../session/session-manager.js";
import { checkDisplayName, normalizeEmail } from "./email.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import { networkKeys } from "../ratelimit/network.js";
import { checkPasswordLength, type PasswordPolicy } from "./password-policy.js";
import type { RequestMeta } from "./request-meta.js";
import type { SignIn, SignInResult } from "./sign-in.js";
import type { EmailVerification } from "../user/email-verification.js";
import type { DeviceProofInput, DeviceProofVerifier } from "../device/device-proof.js";
import type { DeviceRow } from "../records.js";
import { rpcOf } from "./sign-in.js";
import { sessionFactsOf } from "../policy/policy-input.js";
import type { ZeroTrustGate } from "./zero-trust-gate.js";
import type { LockRegistry } from "../lock/lock-registry.js";

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
  verification: EmailVerification;
  /** Seals the successor of a used refresh token for the grace window. */
  box: SecretBox;
  /** How long the same client may present a used refresh token again and get its successor. */
  refreshGraceSeconds: number;
  /** Device possession proofs (device-bound sign-in and refresh). */
  proofs: DeviceProofVerifier;
  /** Organizations' device rules and access policies, decided again at every refresh. */
  gate: Pick<ZeroTrustGate, "check">;
  /** Admins' locks: a refresh for a locked user, role or device is refused (nothing is rotated). */
  locks: Pick<LockRegistry, "requireUnlocked">;
}

const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

type RefreshOutcome =
  | { error: Reason & ("REFRESH_TOKEN_INVALID" | "REFRESH_TOKEN_REUSED" | "DEVICE_PROOF_REQUIRED" | DeadReason); revokedSession?: string }
  | { session: SessionRow; next: string };

/** Who presents a refresh token, as far as the server can tell: address and user agent, hashed. */
function clientFingerprint(meta: RequestMeta): string {
  return sha256Hex(`${meta.clientIp}\0${meta.userAgent}`);
}
/** How long a network stays one the user signs in from. */
export const KNOWN_NETWORK_DAYS = 90;

/** Password sign-up and sign-in, refresh rotation and sign-out. */
export class AuthService {
  constructor(private readonly d: AuthDeps) {}

  /** A new, unverified account; the verification email goes out when the mail server takes it. */
  async register(input: { email: string; password: string; displayName: string }, meta: RequestMeta): Promise<{ user: UserRow; verificationSent: boolean }> {
    const email = normalizeEmail(input.email);
    const displayName = checkDisplayName(input.displayName);
    this.d.policy.check(input.password, [email, email.split("@")[0]!, displayName]);
    const passwordHash = await this.d.hasher.hash(input.password);
    const user = await this.d.store.transaction(async (tx) => {
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
    return { user, verificationSent: await this.d.verification.trySend(user, meta) };
  }

  /**
   * Checks email and password with the same answer, message and cost for an unknown email
   * and a wrong password. A point is taken from the account's failure budgets first (the
   * account at this address, the account overall); a network the owner signed in from within
   * KNOWN_NETWORK_DAYS may still try while the account is under attack.
   */
  async checkPassword(
    rawEmail: string,
    password: string,
    eventType: AuditEventType & ("auth.login" | "auth.verify_credentials" | "auth.change_password" | "auth.backchannel"),
    meta: RequestMeta,
  ): Promise<UserRow & { hasMfa: boolean }> {
    checkPasswordLength(password);
    const email = normalizeEmail(rawEmail);
    const network = networkKeys(meta.clientIp).subnet;
    const knownSince = new Date(this.d.clock.now().getTime() - KNOWN_NETWORK_DAYS * 86_400_000);
    // Read once, and only when needed: an address over its budget costs no database read at all.
    let read: ReturnType<typeof this.d.store.users.findByEmailForSignIn> | undefined;
    const load = () => (read ??= this.d.store.users.findByEmailForSignIn(email, network, knownSince));
    await this.d.limiter.takeAccount(email, meta.clientIp, { knownNetwork: async () => !!(await load())?.knownNetwork });
    let user: (UserRow & { hasMfa: boolean }) | undefined;
    let ok = false;
    try {
      user = await load();
      if (user?.passwordHash) ok = await this.d.hasher.verify(user.passwordHash, password);
      else await this.d.hasher.verifyDummy(password);
    } catch (err) {
      // A database fault is no failed guess: clients retrying through an outage must not lock the account.
      await this.d.limiter.accountRefund(email, meta.clientIp).catch(() => {});
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
    await this.d.limiter.accountSucceeded(email, meta.clientIp);
    return user!;
  }

  /** Password sign-in: tokens, or an MFA challenge for a user with a second factor. */
  async login(email: string, password: string, meta: RequestMeta, authMethod = "password", proof?: DeviceProofInput): Promise<SignInResult> {
    const user = await this.checkPassword(email, password, "auth.login", meta);
    // The device answers for this user only: a proof made for another account fails here.
    const device = proof ? await this.d.proofs.verify(proof, "sign_in", user.id) : undefined;
    return this.d.signIn.start(user, authMethod, meta, { amr: ["pwd"], mfaSatisfied: false, hasMfa: user.hasMfa, deviceId: device?.id });
  }

  async verifyCredentials(email: string, password: string, meta: RequestMeta): Promise<UserRow> {
    const user = await this.checkPassword(email, password, "auth.verify_credentials", meta);
    // Right password, but a locked user is no good credential for whoever asks.
    this.d.locks.requireUnlocked({ userId: user.id, roles: user.roles });
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
   * was already used revokes its whole session (RFC 9700 reuse detection), except when the same
   * client presents it again within the grace window (a retried request whose answer was lost,
   * or two tabs refreshing at once): that client gets the token issued the first time, as long
   * as nobody has used that one yet.
   */
  async refresh(refreshToken: string, meta: RequestMeta, proof?: DeviceProofInput): Promise<{ accessToken: string; refreshToken: string; expiresAt: Date }> {
    if (!REFRESH_TOKEN.test(refreshToken)) throw unauthenticated("REFRESH_TOKEN_INVALID", "invalid refresh token");
    const hash = sha256Hex(refreshToken);
    const client = clientFingerprint(meta);
    const deviceProven = await this.beforeRotation(hash, meta, proof);
    const fresh = randomToken(32);
    const outcome = await this.d.store.transaction(async (tx): Promise<RefreshOutcome> => {
      const now = this.d.clock.now();
      const claimed = await tx.sessions.claimRefreshToken(hash, now, { usedBy: client, successorSealed: this.d.box.seal(fresh) });
      if (!claimed) {
        const known = await tx.sessions.findRefreshToken(hash);
        if (!known) return { error: "REFRESH_TOKEN_INVALID" };
        const retry = await this.retriedWithinGrace(tx, known, client, now);
        // A device-bound session's retry needs a device proof like any refresh (but is no reuse without one).
        if (retry && deviceProven === false) return { error: "DEVICE_PROOF_REQUIRED" };
        if (retry) return this.rotated(tx, retry.sessionId, retry.generation, retry.next, meta, now, true);
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
        return { error: "REFRESH_TOKEN_REUSED", revokedSession: known.sessionId };
      }
      await tx.sessions.addRefreshToken(sha256Hex(fresh), claimed.sessionId, claimed.generation + 1, now);
      return this.rotated(tx, claimed.sessionId, claimed.generation + 1, fresh, meta, now, false);
    });
    if ("error" in outcome) {
      if (outcome.revokedSession) await this.d.sessions.revoked([outcome.revokedSession]);
      throw unauthenticated(
        outcome.error,
        outcome.error === "REFRESH_TOKEN_REUSED"
          ? "refresh token already used; the session was revoked"
          : outcome.error === "DEVICE_PROOF_REQUIRED"
            ? "the session is bound to a device: send a device_proof"
            : "invalid refresh token",
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

  /**
   * What a refresh must pass before its token is claimed: a device-bound session needs a fresh
   * proof from its device, and the organizations' rules are decided again. Only for a token not
   * used yet: presenting a used one must still reach reuse detection, proof or not. Returns
   * whether the session's device was proven (undefined: not device-bound or nothing to check).
   */
  private async beforeRotation(hash: string, meta: RequestMeta, proof: DeviceProofInput | undefined): Promise<boolean | undefined> {
    const known = await this.d.store.sessions.findRefreshToken(hash);
    const session = known && (await this.d.store.sessions.findById(known.sessionId));
    if (!known || !session || session.revokedAt) return undefined;
    let device: DeviceRow | undefined;
    if (session.deviceId) {
      if (!proof) {
        if (!known.usedAt) throw unauthenticated("DEVICE_PROOF_REQUIRED", "the session is bound to a device: send a device_proof");
        return false;
      }
      device = await this.d.proofs.verify(proof, "refresh", session.userId);
      if (device.id !== session.deviceId) throw unauthenticated("DEVICE_PROOF_INVALID", "the proof comes from another device than the session's");
    }
    if (known.usedAt) return device ? true : undefined;
    const user = await this.d.store.users.findById(session.userId);
    // A dead session or user is refused by the rotation itself, with its own reason.
    if (!user || (await this.d.sessions.deadReasonNow(session, user))) return device ? true : undefined;
    await this.d.gate.check({
      user,
      phase: "refresh",
      device,
      session: sessionFactsOf(session),
      request: rpcOf(meta),
    });
    return device ? true : undefined;
  }

  /** The successor a client was given for this token, when it asks again in time and nobody has used it since. */
  private async retriedWithinGrace(
    tx: { sessions: Pick<SessionStore, "findRefreshToken"> },
    known: { usedAt: Date | null; usedBy?: string; successorSealed?: string },
    client: string,
    now: Date,
  ): Promise<{ sessionId: string; generation: number; next: string } | undefined> {
    if (!known.usedAt || !known.usedBy || !known.successorSealed) return undefined;
    // Within the window means strictly less than it: a window of 0 s admits no retry.
    if (now.getTime() - known.usedAt.getTime() >= this.d.refreshGraceSeconds * 1000 || !constantTimeEqual(known.usedBy, client)) return undefined;
    const next = this.d.box.open(known.successorSealed);
    const successor = await tx.sessions.findRefreshToken(sha256Hex(next));
    if (!successor || successor.usedAt) return undefined;
    return { sessionId: successor.sessionId, generation: 0, next };
  }

  /** The checks and the record of a rotation, for a new successor or one given again in the grace window. */
  private async rotated(
    tx: Parameters<Parameters<AuthDeps["store"]["transaction"]>[0]>[0],
    sessionId: string,
    generation: number,
    next: string,
    meta: RequestMeta,
    now: Date,
    retried: boolean,
  ): Promise<RefreshOutcome> {
    const session = await tx.sessions.findById(sessionId);
    const user = session && (await tx.users.findById(session.userId));
    const dead = session ? await this.d.sessions.deadReasonNow(session, user) : "SESSION_NOT_FOUND";
    if (dead) return { error: dead };
    // Thrown: the transaction rolls back, so the refresh token stays unused for after the lock.
    this.d.locks.requireUnlocked({ userId: user!.id, roles: user!.roles, deviceId: session!.deviceId ?? undefined });
    await tx.sessions.touch(session!.id, now);
    await this.d.audit.record(tx, {
      eventType: "auth.refresh",
      outcome: "success",
      actorType: "user",
      actorId: session!.userId,
      targetType: "session",
      targetId: session!.id,
      details: retried ? { retried_within_grace: "true" } : { generation: String(generation) },
      ...whereFrom(meta),
    });
    return { session: session!, next };
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
