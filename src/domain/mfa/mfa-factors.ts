import { randomBytes } from "node:crypto";
import type { Clock } from "../../clock.js";
import type { KeyedHasher, SecretBox } from "../../crypto/master-key.js";
import type { MfaFactorRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { MfaStore } from "../store/mfa-store.js";
import type { SessionStore } from "../store/session-store.js";
import type { Ports } from "../store/transactional.js";
import type { UserStore } from "../store/user-store.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError, invalidArgument, notFound, permissionDenied } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import type { UserPrincipal } from "../principal.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import { auditActor } from "../audit/audit-actor.js";
import { checkPhone, OTP_TTL_SECONDS, type OtpSender } from "./otp.js";
import { maskPhone } from "./sms-sender.js";
import { base32Encode, matchingStep, newTotpSecret, otpauthUri } from "./totp.js";

export interface MfaFactorDeps {
  store: Ports<{ mfa: MfaStore; users: Pick<UserStore, "findById">; sessions: Pick<SessionStore, "setMfaAt">; audit: Pick<AuditStore, "append"> }>;
  clock: Clock;
  box: SecretBox;
  hash: KeyedHasher;
  otp: OtpSender;
  limiter: BruteForce;
  audit: AuditLog;
  bus: InvalidationBus;
  issuer: string;
}

export const RECOVERY_CODE_COUNT = 10;

export interface FactorView {
  row: MfaFactorRow;
  maskedPhone?: string;
}

/** The signed-in user's second factors. Every code check takes a point from the account budget. */
export class MfaFactors {
  constructor(private readonly d: MfaFactorDeps) {}

  async enrollTotp(caller: UserPrincipal, meta: RequestMeta): Promise<{ factorId: string; secret: string; uri: string }> {
    const user = await this.user(caller);
    const secret = newTotpSecret();
    const factor = await this.d.store.transaction(async (tx) => {
      const row = await tx.mfa.createFactor({ userId: user.id, type: "totp", secretEncrypted: this.d.box.seal(secret) }, this.d.clock.now());
      await this.d.audit.record(tx, {
        eventType: "mfa.totp_enroll",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "mfa_factor",
        targetId: row.id,
      });
      return row;
    });
    return { factorId: factor.id, secret, uri: otpauthUri(secret, user.email, this.d.issuer) };
  }

  async confirmTotp(caller: UserPrincipal, factorId: string, code: string, meta: RequestMeta): Promise<MfaFactorRow> {
    const factor = await this.ownFactor(caller, factorId, "totp");
    if (factor.confirmedAt) throw new DomainError("failed_precondition", "FACTOR_CONFIRMED", "the factor is already confirmed");
    const row = await this.checkTotp(caller, factor, code, meta, true);
    if (!row) throw invalidArgument("code", "is not the current code of this authenticator", "MFA_CODE_INVALID");
    await this.factorsChanged(caller.userId);
    return row;
  }

  /** Caches of what the user has enrolled (policies see mfa_enrolled) are dropped on every instance. */
  private async factorsChanged(userId: string): Promise<void> {
    await this.d.bus.publish([{ topic: "user", id: userId }]);
  }

  /** A valid code is a fresh MFA proof for the caller's session. */
  async validateTotp(caller: UserPrincipal, code: string, meta: RequestMeta): Promise<boolean> {
    const factors = await this.d.store.mfa.confirmedFactors(caller.userId, "totp");
    if (factors.length === 0) throw new DomainError("failed_precondition", "NO_TOTP_FACTOR", "no confirmed authenticator");
    for (const f of factors) {
      if (await this.checkTotp(caller, f, code, meta, false)) {
        await this.d.store.sessions.setMfaAt(caller.sessionId, this.d.clock.now());
        await this.d.bus.publish([{ topic: "session", id: caller.sessionId }]);
        return true;
      }
    }
    return false;
  }

  async enrollPhone(caller: UserPrincipal, rawPhone: string, meta: RequestMeta): Promise<{ factorId: string; expiresAt: Date }> {
    const user = await this.user(caller);
    const phone = checkPhone(rawPhone);
    const codeHash = await this.d.otp.send(phone, meta);
    const expiresAt = new Date(this.d.clock.now().getTime() + OTP_TTL_SECONDS * 1000);
    const factor = await this.d.store.transaction(async (tx) => {
      const row = await tx.mfa.createFactor({ userId: user.id, type: "phone", secretEncrypted: this.d.box.seal(phone) }, this.d.clock.now());
      await tx.mfa.setPendingCode(row.id, codeHash, expiresAt);
      await this.d.audit.record(tx, {
        eventType: "mfa.phone_enroll",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "mfa_factor",
        targetId: row.id,
      });
      return row;
    });
    return { factorId: factor.id, expiresAt };
  }

  async confirmPhone(caller: UserPrincipal, factorId: string, code: string, meta: RequestMeta): Promise<FactorView> {
    const factor = await this.ownFactor(caller, factorId, "phone");
    const phone = this.d.box.open(factor.secretEncrypted);
    const user = await this.user(caller);
    await this.d.limiter.takeAccount(user.email, meta.clientIp);
    const confirmed = await this.d.store.mfa.confirmPendingCode(factor.id, this.d.otp.codeHash(phone, code.trim()), this.d.clock.now());
    if (!confirmed) {
      await this.d.audit.recordAlone({
        eventType: "mfa.phone_confirm",
        outcome: "failure",
        ...auditActor(caller, meta),
        targetType: "mfa_factor",
        targetId: factor.id,
      });
      throw invalidArgument("code", "is not the code sent, or it expired", "MFA_CODE_INVALID");
    }
    await this.d.limiter.accountSucceeded(user.email, meta.clientIp);
    await this.d.audit.recordAlone({
      eventType: "mfa.phone_confirm",
      outcome: "success",
      ...auditActor(caller, meta),
      targetType: "mfa_factor",
      targetId: factor.id,
    });
    await this.factorsChanged(caller.userId);
    return { row: confirmed, maskedPhone: maskPhone(phone) };
  }

  async list(caller: UserPrincipal): Promise<{ factors: FactorView[]; remainingRecoveryCodes: number }> {
    const rows = await this.d.store.mfa.factors(caller.userId);
    const remainingRecoveryCodes = await this.d.store.mfa.remainingRecoveryCodes(caller.userId);
    return {
      factors: rows.map((row) => ({ row, maskedPhone: row.type === "phone" ? maskPhone(this.d.box.open(row.secretEncrypted)) : undefined })),
      remainingRecoveryCodes,
    };
  }

  async remove(caller: UserPrincipal, factorId: string, meta: RequestMeta): Promise<void> {
    await this.ownFactor(caller, factorId);
    await this.d.store.transaction(async (tx) => {
      await tx.mfa.deleteFactor(factorId, caller.userId);
      // Recovery codes only stand in for a factor; with none left they go too.
      if ((await tx.mfa.confirmedFactors(caller.userId)).length === 0) await tx.mfa.deleteRecoveryCodes(caller.userId);
      await this.d.audit.record(tx, {
        eventType: "mfa.factor_remove",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "mfa_factor",
        targetId: factorId,
      });
    });
    await this.factorsChanged(caller.userId);
  }

  async generateRecoveryCodes(caller: UserPrincipal, meta: RequestMeta): Promise<string[]> {
    if ((await this.d.store.mfa.confirmedFactors(caller.userId)).length === 0)
      throw new DomainError("failed_precondition", "NO_MFA_FACTOR", "set up an authenticator or phone first");
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await this.d.store.transaction(async (tx) => {
      await tx.mfa.replaceRecoveryCodes(
        caller.userId,
        codes.map((c) => this.recoveryHash(caller.userId, c)),
        this.d.clock.now(),
      );
      await this.d.audit.record(tx, {
        eventType: "mfa.recovery_codes",
        outcome: "success",
        ...auditActor(caller, meta),
        targetType: "user",
        targetId: caller.userId,
      });
    });
    return codes;
  }

  recoveryHash(userId: string, code: string): string {
    return this.d.hash("recovery-code", `${userId}:${normalizeRecoveryCode(code)}`);
  }

  /** Checks a TOTP code for the signed-in user, paying with a point of the account budget. */
  async checkTotp(caller: { userId: string }, factor: MfaFactorRow, code: string, meta: RequestMeta, confirm: boolean): Promise<MfaFactorRow | undefined> {
    const user = await this.d.store.users.findById(caller.userId);
    if (!user) throw permissionDenied();
    await this.d.limiter.takeAccount(user.email, meta.clientIp);
    const claimed = await this.matchTotp(user.id, factor, code, meta, confirm);
    if (claimed) await this.d.limiter.accountSucceeded(user.email, meta.clientIp);
    return claimed;
  }

  /**
   * The code, then the time step claimed in one statement: a code works once, and a replay is
   * refused and audited. The caller has already paid for the attempt.
   */
  async matchTotp(userId: string, factor: MfaFactorRow, code: string, meta: RequestMeta, confirm = false): Promise<MfaFactorRow | undefined> {
    const now = this.d.clock.now();
    const step = matchingStep(this.d.box.open(factor.secretEncrypted), code.trim(), now);
    const claimed = step !== undefined ? await this.d.store.mfa.claimStep(factor.id, step, now, confirm) : undefined;
    const result = claimed ? "accepted" : step !== undefined ? "replay" : "wrong_code";
    await this.d.audit.recordAlone({
      eventType: result === "replay" ? "mfa.totp_replay" : "mfa.totp_check",
      outcome: claimed ? "success" : "failure",
      actorType: "user",
      actorId: userId,
      targetType: "mfa_factor",
      targetId: factor.id,
      details: { result },
      clientIp: meta.clientIp,
      requestId: meta.requestId,
    });
    return claimed;
  }

  private async user(caller: UserPrincipal) {
    const user = await this.d.store.users.findById(caller.userId);
    if (!user) throw permissionDenied();
    return user;
  }

  private async ownFactor(caller: UserPrincipal, factorId: string, type?: string): Promise<MfaFactorRow> {
    const factor = await this.d.store.mfa.findFactor(factorId);
    if (!factor || factor.userId !== caller.userId || (type && factor.type !== type)) throw notFound("FACTOR_NOT_FOUND", "factor");
    return factor;
  }
}

/** 10 base32 characters (50 bits) as xxxxx-xxxxx. */
function newRecoveryCode(): string {
  const raw = base32Encode(randomBytes(7)).slice(0, 10).toLowerCase();
  return `${raw.slice(0, 5)}-${raw.slice(5)}`;
}

export function normalizeRecoveryCode(code: string): string {
  return code.trim().toLowerCase().replace(/[\s-]/g, "");
}

export function isRecoveryCodeShape(code: string): boolean {
  return /^[a-z2-7]{10}$/.test(normalizeRecoveryCode(code));
}
