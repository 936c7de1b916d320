import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { DomainError } from "../errors.js";

/**
 * Failed sign-ins per account. A point is taken before the password is checked, so that
 * parallel attempts are counted exactly and an account over its limit costs no hashing;
 * a successful sign-in gives the point back.
 */
export class LoginLimiter {
  private readonly limiter: RateLimiterMemory;

  constructor(maxFailures: number, windowSeconds: number) {
    this.limiter = new RateLimiterMemory({ keyPrefix: "login-account", points: maxFailures, duration: windowSeconds });
  }

  async take(account: string): Promise<void> {
    try {
      await this.limiter.consume(account, 1);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      const retryAfterSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw new DomainError("resource_exhausted", "RATE_LIMITED", "too many failed attempts; try again later", { retryAfterSeconds });
    }
  }

  async succeeded(account: string): Promise<void> {
    await this.limiter.delete(account);
  }

  async consumed(account: string): Promise<number> {
    return (await this.limiter.get(account))?.consumedPoints ?? 0;
  }
}
