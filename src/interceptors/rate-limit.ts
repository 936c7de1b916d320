import { Code, ConnectError, type Interceptor, type StreamRequest, type UnaryRequest } from "@connectrpc/connect";
import { kClientIp, kCredentialFailed } from "../context.js";
import { DomainError } from "../domain/errors.js";
import type { BruteForce, RateClass as Budget } from "../domain/ratelimit/brute-force.js";
import { RateClass } from "../../gen/warden/options/v1/options_pb.js";
import { policyOf } from "../policy.js";
import { whenCallEnds } from "./call-end.js";

/** The budget each rate class of the policy option spends. */
const BUDGETS: Partial<Record<RateClass, Budget>> = {
  [RateClass.PASSWORD]: "password",
  [RateClass.REFRESH_TOKEN]: "refresh_token",
  [RateClass.OTP]: "otp",
  [RateClass.PASSKEY]: "passkey",
  [RateClass.API_KEY]: "api_key",
  [RateClass.SERVICE_ACCOUNT]: "service_account",
  [RateClass.JOIN_TOKEN]: "join_token",
};

/**
 * The network half of brute-force protection, by the policy's rate_class: a credential call
 * takes a point from its client's address and network budgets before anything else runs and
 * gets it back when the credential was good. Sign-ups count whatever their outcome.
 */
export function rateLimitInterceptor(engine: BruteForce): Interceptor {
  return (next) => (req) => {
    const rateClass = policyOf(req.method)?.rateClass ?? RateClass.UNSPECIFIED;
    return rateClass === RateClass.UNSPECIFIED ? next(req) : limited(req, rateClass, next);
  };

  async function limited(req: UnaryRequest | StreamRequest, rateClass: RateClass, next: Next) {
    const ip = req.contextValues.get(kClientIp);
    if (rateClass === RateClass.SIGNUP || rateClass === RateClass.DEVICE) {
      await engine.takeAddressQuota(rateClass === RateClass.SIGNUP ? "signup" : "device_challenge", ip);
      return next(req);
    }
    const budget = BUDGETS[rateClass];
    // The start-up check accepts only known classes; should an unknown one slip through, it is refused.
    if (!budget) throw new DomainError("permission_denied", "NO_POLICY", "unknown rate class");
    await engine.takeNetwork(budget, ip);
    const settle = async (err?: unknown) => {
      // A fault says nothing about the credential: the point goes back.
      const refund = err === undefined ? !req.contextValues.get(kCredentialFailed) : isFault(err);
      if (refund) await engine.networkSucceeded(budget, ip).catch(() => {});
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      await settle(err);
      throw err;
    }
    if (!res.stream) {
      await settle();
      return res;
    }
    // A stream's handler runs while its messages are read: it is settled when it ends.
    return whenCallEnds(res, req.signal, (err) => void settle(err));
  }
}

type Next = Parameters<Interceptor>[0];

function isFault(err: unknown): boolean {
  if (err instanceof DomainError) return err.kind === "unavailable";
  if (err instanceof ConnectError) return err.code === Code.Unavailable || err.code === Code.Internal || err.code === Code.DeadlineExceeded;
  return true;
}
