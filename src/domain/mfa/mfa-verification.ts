import type { Clock } from "../../clock.js";
import type { SecretBox } from "../../crypto/master-key.js";
import type { MfaChallengeRow, UserRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { MfaStore } from "../store/mfa-store.js";
import type { UserStore } from "../store/user-store.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { mfaChallengeKey, type IssuedTokens, type SignIn } from "../auth/sign-in.js";
import { DomainError, unauthenticated } from "../errors.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import { isRecoveryCodeShape, type MfaFactors } from "./mfa-factors.js";
import { checkPhone, OTP_TTL_SECONDS, type OtpSender } from "./otp.js";

export interface MfaVerificationDeps {
  store: { mfa: MfaStore; users: Pick<UserStore, "findById">; audit: Pick<AuditStore, "append"> };
  clock: Clock;
  factors: MfaFactors;
  otp: OtpSender;
  box: SecretBox;
  limiter: BruteForce;
  signIn: SignIn;
  audit: AuditLog;
}

/** Wrong codes a challenge survives before it dies. */
export const MAX_CHALLENGE_FAILURES = 5;
const CHALLENGE_ID = /^mfa_[A-Za-z0-9_-]{32}$/;

type Method = "totp" | "phone" | "recovery_code" | "webauthn";
const AMR: Record<Method, string> = { totp: "otp", phone: "sms", recovery_code: "rec", webauthn: "hwk" };

/** A refused second factor: the error the caller gets, and the reason (and details) audited. */
export type Refusal = { error: DomainError; reason: string; details?: Record<string, string> };
/** A proof the caller checked: accepted (with details for the audit event), or refused. */
export type ProofOutcome = { details: Record<string, string> } | Refusal;

/** The second step of a sign-in: VerifyMFA, and SMS codes for it. */
export class MfaVerification {
  constructor(private readonly d: MfaVerificationDeps) {}

  async verify(challengeId: string, code: string, meta: RequestMeta): Promise<IssuedTokens> {
    return this.complete(challengeId, meta, async (user, challenge) => {
      const method = await this.check(user, challenge, code, meta);
      return method ? { method, details: {} } : { error: unauthenticated("MFA_CODE_INVALID", "invalid or expired code"), reason: "wrong_code" };
    });
  }

  /**
   * Completes a challenge with a proof other than a code (the web login's passkey assertion),
   * checked by `prove` for the challenge's user: the same account budget, failure count, single
   * use and audit as a code.
   */
  async verifyWith(challengeId: string, method: "webauthn", meta: RequestMeta, prove: (user: UserRow) => Promise<ProofOutcome>): Promise<IssuedTokens> {
    return this.complete(challengeId, meta, async (user) => {
      const outcome = await prove(user);
      return "error" in outcome ? outcome : { method, details: outcome.details };
    });
  }

  private async complete(
    challengeId: string,
    meta: RequestMeta,
    check: (user: UserRow, challenge: MfaChallengeRow) => Promise<{ method: Method; details: Record<string, string> } | Refusal>,
  ): Promise<IssuedTokens> {
    const { challenge, user } = await this.pending(challengeId, meta);
    // Each try costs the account a point: second factors cannot be guessed faster than passwords.
    await this.d.limiter.takeAccount(user.email, meta.clientIp);
    const outcome = await check(user, challenge);
    if ("error" in outcome) {
      const failures = await this.d.store.mfa.countFailure(challenge.id);
      if (failures >= MAX_CHALLENGE_FAILURES) await this.d.store.mfa.claimChallenge(challenge.id, this.d.clock.now());
      await this.audit(user, challenge, "failure", { ...outcome.details, reason: outcome.reason, failures: String(failures) }, meta);
      throw outcome.error;
    }
    const claimed = await this.d.store.mfa.claimChallenge(challenge.id, this.d.clock.now());
    if (!claimed) throw unauthenticated("MFA_CHALLENGE_INVALID", "unknown or expired challenge");
    await this.d.limiter.accountSucceeded(user.email, meta.clientIp);
    await this.audit(user, challenge, "success", { ...outcome.details, method: outcome.method }, meta);
    if (user.disabled) throw unauthenticated("MFA_CHALLENGE_INVALID", "unknown or expired challenge");
    return this.d.signIn.openSession(
      user,
      challenge.authMethod,
      meta,
      [firstFactorAmr(challenge.authMethod), "mfa", AMR[outcome.method]],
      this.d.clock.now(),
      challenge.deviceId ?? undefined,
    );
  }

  /**
   * Sends an SMS code for a pending challenge, only to a phone the user confirmed before; any
   * other number gets the same answer and no message, so numbers cannot be probed.
   */
  async sendPhoneCode(challengeId: string, rawPhone: string, meta: RequestMeta): Promise<Date> {
    const phone = checkPhone(rawPhone);
    const { challenge, user } = await this.pending(challengeId, meta);
    const expiresAt = new Date(this.d.clock.now().getTime() + OTP_TTL_SECONDS * 1000);
    const phones = (await this.d.store.mfa.confirmedFactors(user.id, "phone")).map((f) => this.d.box.open(f.secretEncrypted));
    if (!phones.includes(phone)) {
      await this.audit(user, challenge, "failure", { reason: "phone_not_enrolled" }, meta, "auth.phone_otp_sent");
      return expiresAt;
    }
    const codeHash = await this.d.otp.send(phone, meta);
    await this.d.store.mfa.setPhoneCode(challenge.id, phone, codeHash, expiresAt);
    await this.audit(user, challenge, "success", {}, meta, "auth.phone_otp_sent");
    return expiresAt;
  }

  private async pending(challengeId: string, meta: RequestMeta): Promise<{ challenge: MfaChallengeRow; user: UserRow }> {
    const challenge = CHALLENGE_ID.test(challengeId)
      ? await this.d.store.mfa.findPendingChallenge(mfaChallengeKey(challengeId), this.d.clock.now())
      : undefined;
    const user = challenge && (await this.d.store.users.findById(challenge.userId));
    if (!challenge || !user) throw unauthenticated("MFA_CHALLENGE_INVALID", "unknown or expired challenge");
    await this.d.limiter.checkAccount(user.email, meta.clientIp);
    return { challenge, user };
  }

  /** Which kind of code this was, if it was right: TOTP, SMS, or a recovery code. */
  private async check(user: UserRow, challenge: MfaChallengeRow, rawCode: string, meta: RequestMeta): Promise<"totp" | "phone" | "recovery_code" | undefined> {
    const code = rawCode.trim();
    if (/^\d{6}$/.test(code)) {
      if (challenge.phone && (await this.d.store.mfa.usePhoneCode(challenge.id, this.d.otp.codeHash(challenge.phone, code), this.d.clock.now())))
        return "phone";
      for (const f of await this.d.store.mfa.confirmedFactors(user.id, "totp")) if (await this.d.factors.matchTotp(user.id, f, code, meta)) return "totp";
      return undefined;
    }
    if (isRecoveryCodeShape(code) && (await this.d.store.mfa.useRecoveryCode(user.id, this.d.factors.recoveryHash(user.id, code), this.d.clock.now())))
      return "recovery_code";
    if (code.length === 0)
      throw new DomainError("invalid_argument", "INVALID_ARGUMENT", "code: is required", { violations: [{ field: "code", description: "is required" }] });
    return undefined;
  }

  private async audit(
    user: UserRow,
    challenge: MfaChallengeRow,
    outcome: "success" | "failure",
    details: Record<string, string>,
    meta: RequestMeta,
    eventType: "auth.verify_mfa" | "auth.phone_otp_sent" = "auth.verify_mfa",
  ): Promise<void> {
    await this.d.audit.recordAlone({
      eventType,
      outcome,
      actorType: "user",
      actorId: user.id,
      targetType: "mfa_challenge",
      targetId: challenge.id.slice(0, 12),
      details,
      clientIp: meta.clientIp,
      requestId: meta.requestId,
    });
  }
}

function firstFactorAmr(authMethod: string): string {
  if (authMethod.startsWith("password")) return "pwd";
  if (authMethod === "oidc") return "fed";
  return authMethod;
}
