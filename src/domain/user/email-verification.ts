import { randomInt } from "node:crypto";
import type { Clock } from "../../clock.js";
import type { KeyedHasher } from "../../crypto/master-key.js";
import { constantTimeEqual, randomToken } from "../../crypto/random.js";
import type { AuditLog } from "../audit/audit-log.js";
import { userActor } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { normalizeEmail } from "../auth/email.js";
import type { EmailSender } from "../email/email-sender.js";
import { DomainError, invalidArgument } from "../errors.js";
import type { DevOtpStore } from "../mfa/sms-sender.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import type { UserRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import type { EmailVerificationStore } from "../store/email-verification-store.js";
import type { Ports } from "../store/transactional.js";
import type { UserStore } from "../store/user-store.js";

export interface EmailVerificationDeps {
  store: Ports<{
    users: Pick<UserStore, "findById" | "findByEmail" | "update">;
    emailVerifications: EmailVerificationStore;
    audit: Pick<AuditStore, "append">;
  }>;
  clock: Clock;
  mail: EmailSender;
  devCodes: DevOtpStore;
  hash: KeyedHasher;
  limiter: BruteForce;
  audit: AuditLog;
  /** Where the link in the email points; the token is appended as `?token=`. */
  linkUrl: string;
  ttlSeconds: number;
}

/** Wrong codes one verification survives. */
export const MAX_CODE_FAILURES = 5;

const invalidCode = () => invalidArgument("code", "is wrong, used or expired", "EMAIL_CODE_INVALID");

/**
 * Proves that a user receives mail at their address: a six-digit code and a link token, both
 * stored as keyed hashes, sent by email. Until then the account is unverified (see the settings
 * for what that withholds; federated sign-in never links to it).
 */
export class EmailVerification {
  constructor(private readonly d: EmailVerificationDeps) {}

  /**
   * Sends a new code and link (the previous ones stop working), within the per-recipient and
   * per-address quotas. Returns when it was written to the mail server; a failure to send is
   * UNAVAILABLE (MAIL_UNAVAILABLE) and is audited.
   */
  async send(user: UserRow, meta: RequestMeta): Promise<Date> {
    if (user.emailVerifiedAt) throw new DomainError("failed_precondition", "EMAIL_ALREADY_VERIFIED", "the email is verified already");
    await this.d.limiter.takeQuota("email_recipient", user.email);
    await this.d.limiter.takeAddressQuota("email_address", meta.clientIp);
    const code = String(randomInt(0, 1_000_000)).padStart(6, "0");
    const token = randomToken(32);
    const now = this.d.clock.now();
    const expiresAt = new Date(now.getTime() + this.d.ttlSeconds * 1000);
    await this.d.store.emailVerifications.put({
      userId: user.id,
      email: user.email,
      codeHash: this.codeHash(user.id, code),
      linkTokenHash: this.tokenHash(token),
      createdAt: now,
      expiresAt,
    });
    const record = (outcome: "success" | "failure") =>
      this.d.audit.recordAlone({ eventType: "user.email_verification_sent", outcome, ...userActor(user.id, meta), targetType: "user", targetId: user.id });
    try {
      await this.d.mail.send({
        to: user.email,
        subject: "Verify your email address",
        text: messageText(code, `${this.d.linkUrl}?token=${token}`, this.d.ttlSeconds),
      });
    } catch {
      await record("failure");
      throw new DomainError("unavailable", "MAIL_UNAVAILABLE", "the verification email could not be sent; try again later");
    }
    this.d.devCodes.record(user.email, code);
    await record("success");
    return expiresAt;
  }

  /** ResendEmailVerification: a new code and link for the signed-in user. */
  async resend(userId: string, meta: RequestMeta): Promise<Date> {
    const user = await this.d.store.users.findById(userId);
    if (!user) throw new DomainError("unauthenticated", "UNAUTHENTICATED", "no such user");
    return this.send(user, meta);
  }

  /** Sends when it can; a mail server that is down must not undo a sign-up. */
  async trySend(user: UserRow, meta: RequestMeta): Promise<boolean> {
    try {
      await this.send(user, meta);
      return true;
    } catch (err) {
      if (err instanceof DomainError && (err.kind === "unavailable" || err.kind === "resource_exhausted")) return false;
      throw err;
    }
  }

  /** The code from the email, with the address it went to. An unknown address gets the same answer as a wrong code. */
  async verifyCode(rawEmail: string, code: string, meta: RequestMeta): Promise<UserRow> {
    const user = await this.d.store.users.findByEmail(normalizeEmail(rawEmail));
    const pending = user && (await this.d.store.emailVerifications.find(user.id));
    if (!user || !pending || !this.usable(pending, user)) throw invalidCode();
    if (!constantTimeEqual(pending.codeHash, this.codeHash(user.id, code.trim()))) {
      const failures = await this.d.store.emailVerifications.countFailure(user.id);
      // Past the limit the verification is spent: a new one must be sent.
      if (failures >= MAX_CODE_FAILURES) await this.d.store.emailVerifications.take(user.id);
      await this.d.audit.recordAlone({
        eventType: "user.email_verified",
        outcome: "failure",
        ...userActor(user.id, meta),
        targetType: "user",
        targetId: user.id,
        details: { reason: "wrong_code", failures: String(failures) },
      });
      throw invalidCode();
    }
    return this.complete(user, meta, "code");
  }

  /** The token from the email's link. */
  async verifyToken(token: string, meta: RequestMeta): Promise<UserRow> {
    const pending = token ? await this.d.store.emailVerifications.findByLinkToken(this.tokenHash(token)) : undefined;
    const user = pending && (await this.d.store.users.findById(pending.userId));
    if (!pending || !user || !this.usable(pending, user)) throw invalidCode();
    return this.complete(user, meta, "link");
  }

  private usable(pending: { email: string; expiresAt: Date; failedAttempts: number }, user: UserRow): boolean {
    return pending.email === user.email && pending.expiresAt > this.d.clock.now() && pending.failedAttempts < MAX_CODE_FAILURES && !user.disabled;
  }

  /** Takes the pending verification once (of two parallel answers one wins) and marks the address verified. */
  private async complete(user: UserRow, meta: RequestMeta, via: "code" | "link"): Promise<UserRow> {
    return this.d.store.transaction(async (tx) => {
      if (!(await tx.emailVerifications.take(user.id))) throw invalidCode();
      const now = this.d.clock.now();
      const verified = await tx.users.update(user.id, { emailVerifiedAt: now }, now);
      if (!verified) throw invalidCode();
      await this.d.audit.record(tx, {
        eventType: "user.email_verified",
        outcome: "success",
        ...userActor(user.id, meta),
        targetType: "user",
        targetId: user.id,
        details: { via },
      });
      return verified;
    });
  }

  private codeHash(userId: string, code: string): string {
    return this.d.hash("email-code", `${userId}:${code}`);
  }

  private tokenHash(token: string): string {
    return this.d.hash("email-link", token);
  }
}

function messageText(code: string, link: string, ttlSeconds: number): string {
  const hours = Math.round(ttlSeconds / 3600);
  return [
    `Your Warden verification code is ${code}.`,
    "",
    `Or open this link to verify your email address:`,
    link,
    "",
    `The code and the link expire in ${hours >= 1 ? `${hours} hour${hours === 1 ? "" : "s"}` : `${Math.round(ttlSeconds / 60)} minutes`}.`,
    "If you did not create an account, ignore this email.",
  ].join("\n");
}
