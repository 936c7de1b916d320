import type { Clock } from "../../clock.js";
import { randomToken, sha256Hex } from "../../crypto/random.js";
import type { TokenService } from "../../crypto/token-service.js";
import type { AuditLog } from "../audit/audit-log.js";
import { userActor } from "../audit/audit-actor.js";
import type { SessionRow, UserRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { MfaStore } from "../store/mfa-store.js";
import type { Ports } from "../store/transactional.js";
import type { SessionManager } from "../session/session-manager.js";
import { DomainError, invalidCredentials } from "../errors.js";
import type { EmailVerification } from "../user/email-verification.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import type { RequestMeta } from "./request-meta.js";
import type { DeviceRow } from "../records.js";
import type { DeviceStore } from "../store/device-store.js";
import { unauthenticated } from "../errors.js";
import type { ZeroTrustGate } from "./zero-trust-gate.js";
import type { LockRegistry } from "../lock/lock-registry.js";

export const MFA_CHALLENGE_TTL_SECONDS = 300;

/** How a challenge id is stored and looked up. */
export function mfaChallengeKey(challengeId: string): string {
  return sha256Hex(challengeId);
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  /** `wds_<id>.<secret>` */
  sessionBearer: string;
  session: SessionRow;
  expiresAt: Date;
  user: UserRow;
}

export type SignInResult = ({ kind: "tokens" } & IssuedTokens) | { kind: "mfa"; challengeId: string; methods: string[]; user: UserRow };

export interface SignInDeps {
  store: Ports<{ mfa: Pick<MfaStore, "confirmedFactors" | "remainingRecoveryCodes" | "createChallenge">; audit: Pick<AuditStore, "append"> }>;
  clock: Clock;
  sessions: SessionManager;
  tokens: TokenService;
  audit: AuditLog;
  limiter: BruteForce;
  /** Refuse sign-in until the account's email is verified (require_verified_email_to_sign_in). */
  requireVerifiedEmail: boolean;
  /** Resends the verification email to an account refused for want of one. */
  verification: Pick<EmailVerification, "trySend">;
  /** Organizations' device rules and access policies, decided before any session opens. */
  gate: Pick<ZeroTrustGate, "check">;
  devices: Pick<DeviceStore, "findById">;
  /** Admins' locks: a locked user, role or device gets no MFA challenge and no session. */
  locks: Pick<LockRegistry, "requireUnlocked">;
}

export interface SignInOptions {
  amr: string[];
  mfaSatisfied: boolean;
  hasMfa?: boolean;
  /** A device that proved itself (DeviceProofVerifier) with this sign-in: the session is bound to it. */
  deviceId?: string;
  /**
   * Second factors this caller completes itself besides the codes VerifyMFA takes (the web
   * login's passkey step): listed in the challenge, and enough on their own to require one.
   */
  extraMethods?: string[];
}

/**
 * The one way a verified first factor becomes a session: straight to tokens, or, for a user
 * with a second factor, to an MFA challenge that VerifyMFA completes.
 */
export class SignIn {
  constructor(private readonly d: SignInDeps) {}

  /** `hasMfa: false` (read with the user) spares the factor lookup; undefined means look. */
  async start(user: UserRow, authMethod: string, meta: RequestMeta, opts: SignInOptions): Promise<SignInResult> {
    // Disabled: no token from any path. Failed password attempts do not block here: whoever
    // gets this far proved a credential (password budgets are taken where passwords are checked).
    if (user.disabled || user.deletedAt) throw invalidCredentials();
    this.d.locks.requireUnlocked({ userId: user.id, roles: user.roles, deviceId: opts.deviceId });
    if (this.d.requireVerifiedEmail && !user.emailVerifiedAt) {
      // The credential was right: the owner is told why, and gets a new verification email.
      await this.d.verification.trySend(user, meta);
      throw new DomainError("failed_precondition", "EMAIL_NOT_VERIFIED", "verify your email address first: a new verification email was sent");
    }
    const extra = opts.extraMethods ?? [];
    if (!opts.mfaSatisfied && (opts.hasMfa !== false || extra.length > 0)) {
      const methods = [...(opts.hasMfa === false ? [] : await this.mfaMethods(user.id)), ...extra];
      if (methods.length > 0) {
        // Refused now rather than after the second factor: a denied sign-in gets no challenge.
        const device = await this.deviceOf(user, opts.deviceId);
        await this.d.gate.check({ user, phase: "sign_in", device, session: { authMethods: opts.amr }, request: rpcOf(meta), mfaPending: true });
        return { kind: "mfa", challengeId: await this.createChallenge(user, authMethod, meta, opts.deviceId), methods, user };
      }
    }
    return {
      kind: "tokens",
      ...(await this.openSession(user, authMethod, meta, opts.amr, opts.mfaSatisfied ? this.d.clock.now() : undefined, opts.deviceId)),
    };
  }

  /** The device a sign-in proved (or its MFA challenge carries), checked again: it may have been revoked since. */
  private async deviceOf(user: UserRow, deviceId: string | undefined): Promise<DeviceRow | undefined> {
    if (!deviceId) return undefined;
    const device = await this.d.devices.findById(deviceId);
    if (!device || device.userId !== user.id) throw unauthenticated("DEVICE_PROOF_INVALID", "invalid device proof");
    if (device.revokedAt) throw unauthenticated("DEVICE_REVOKED", "the device was revoked");
    return device;
  }

  /** The kinds of second factor the user can answer with; empty means none is set up. */
  async mfaMethods(userId: string): Promise<string[]> {
    const factors = await this.d.store.mfa.confirmedFactors(userId);
    const kinds = new Set(factors.map((f) => f.type));
    const methods: string[] = [];
    if (kinds.has("totp")) methods.push("totp");
    if (kinds.has("phone")) methods.push("phone");
    if (methods.length > 0 && (await this.d.store.mfa.remainingRecoveryCodes(userId)) > 0) methods.push("recovery_code");
    return methods;
  }

  async openSession(user: UserRow, authMethod: string, meta: RequestMeta, amr: string[], mfaAt?: Date, deviceId?: string): Promise<IssuedTokens> {
    const device = await this.deviceOf(user, deviceId);
    this.d.locks.requireUnlocked({ userId: user.id, roles: user.roles, deviceId: device?.id });
    await this.d.gate.check({ user, phase: "sign_in", device, session: { authMethods: amr, mfaAt }, request: rpcOf(meta) });
    // The session, its refresh token and the event in one statement: all or nothing, one round trip.
    const created = await this.d.sessions.open(
      { userId: user.id, authMethod, clientIp: meta.clientIp, userAgent: meta.userAgent, mfaAt, deviceId: device?.id },
      {
        eventType: "auth.login",
        outcome: "success",
        ...userActor(user.id, meta),
        details: { method: authMethod, amr: amr.join(","), ...(device ? { device_id: device.id } : {}) },
      },
    );
    const access = await this.d.tokens.issue({ sub: user.id, sid: created.session.id, tokenType: "access", amr, authTime: mfaAt });
    return {
      accessToken: access.token,
      refreshToken: created.refreshToken,
      sessionBearer: created.bearer,
      session: created.session,
      expiresAt: access.expiresAt,
      user,
    };
  }

  private async createChallenge(user: UserRow, authMethod: string, meta: RequestMeta, deviceId?: string): Promise<string> {
    const now = this.d.clock.now();
    const id = `mfa_${randomToken(24)}`;
    await this.d.store.transaction(async (tx) => {
      await tx.mfa.createChallenge({
        // Stored as a hash, like every other one-time secret: the id alone completes a sign-in.
        id: mfaChallengeKey(id),
        userId: user.id,
        authMethod,
        clientIp: meta.clientIp,
        userAgent: meta.userAgent.slice(0, 512),
        deviceId: deviceId ?? null,
        createdAt: now,
        expiresAt: new Date(now.getTime() + MFA_CHALLENGE_TTL_SECONDS * 1000),
      });
      await this.d.audit.record(tx, {
        eventType: "auth.mfa_challenge",
        outcome: "success",
        actorType: "user",
        actorId: user.id,
        targetType: "user",
        targetId: user.id,
        details: { method: authMethod },
        clientIp: meta.clientIp,
        requestId: meta.requestId,
      });
    });
    return id;
  }
}

/** The request as the gate sees it: the RPC named (empty when a caller outside RPCs signs in). */
export function rpcOf(meta: RequestMeta): RequestMeta & { method: string } {
  return { ...meta, method: meta.method ?? "" };
}
