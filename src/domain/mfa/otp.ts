import { randomInt } from "node:crypto";
import type { KeyedHasher } from "../../crypto/master-key.js";
import { DomainError, invalidArgument } from "../errors.js";
import type { RequestMeta } from "../auth/request-meta.js";
import type { BruteForce } from "../ratelimit/brute-force.js";
import type { DevOtpStore, SmsSender } from "./sms-sender.js";

export const OTP_TTL_SECONDS = 300;
const E164 = /^\+[1-9]\d{6,14}$/;

export function checkPhone(phone: string): string {
  const p = phone.trim();
  if (!E164.test(p)) throw invalidArgument("phone", "must be in E.164 form, e.g. +14155550123", "PHONE_INVALID");
  return p;
}

/** Six-digit one-time codes by SMS: generated here, stored only as keyed hashes by the caller. */
export class OtpSender {
  constructor(
    private readonly sender: SmsSender,
    private readonly dev: DevOtpStore,
    private readonly hash: KeyedHasher,
    private readonly limiter: BruteForce,
  ) {}

  /** Sends a fresh code, within the per-phone and per-address quotas; returns its keyed hash. */
  async send(phone: string, meta: RequestMeta): Promise<string> {
    await this.limiter.takeQuota("otp_phone", phone);
    await this.limiter.takeAddressQuota("otp_address", meta.clientIp);
    const code = String(randomInt(0, 1_000_000)).padStart(6, "0");
    try {
      await this.sender.send(phone, `Your Warden code is ${code}. It expires in 5 minutes.`);
    } catch {
      throw new DomainError("unavailable", "SMS_UNAVAILABLE", "the code could not be sent; try again later");
    }
    this.dev.record(phone, code);
    return this.codeHash(phone, code);
  }

  codeHash(phone: string, code: string): string {
    return this.hash("phone-otp", `${phone}:${code}`);
  }
}
