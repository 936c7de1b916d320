import { createSmsSender } from "./sms-sender.js";
import { MfaFactors } from "../domain/mfa/mfa-factors.js";
import { MfaVerification } from "../domain/mfa/mfa-verification.js";
import { OtpSender } from "../domain/mfa/otp.js";
import type { DevOtpStore } from "../domain/mfa/sms-sender.js";
import { devHandlers, mfaHandlers } from "../handlers/mfa.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { SessionsArea } from "./sessions.js";

export interface MfaArea {
  verification: MfaVerification;
  devOtps: DevOtpStore;
  handlers: Pick<ServiceHandlers, "mfa" | "dev">;
}

/** Second factors (TOTP, SMS, recovery codes) and the second step of sign-in. */
export function wireMfa(core: Core, s: SessionsArea): MfaArea {
  const { config, store, clock, audit, limiter } = core;
  const devOtps = core.devCodes;
  const otp = new OtpSender(createSmsSender(config, core.log), devOtps, core.keyedHash, limiter);
  const factors = new MfaFactors({ store, clock, box: core.box, hash: core.keyedHash, otp, limiter, audit, bus: core.bus, issuer: config.token_issuer });
  const verification = new MfaVerification({ store, clock, factors, otp, box: core.box, limiter, signIn: s.signIn, audit });
  return { verification, devOtps, handlers: { mfa: mfaHandlers(factors), dev: devHandlers(devOtps) } };
}
