import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { DomainError } from "../errors.js";

/**
 * Failed machine-credential attempts (API keys, service-account secrets) per client address.
 * Over the limit, further attempts from that address are refused before any lookup.
 */
export class NetworkLimiter {
  private readonly limiter: RateLimiterMemory;

  constructor(maxFailures: number, windowSeconds: number) {
    this.limiter = new RateLimiterMemory({ keyPrefix: "credential-network", points: maxFailures, duration: windowSeconds });
  }

  async check(clientIp: string): Promise<void> {
    const res = await this.limiter.get(clientIp || "unknown");
    if (res && res.remainingPoints <= 0) throw rateLimited(res);
  }

  async failed(clientIp: string): Promise<void> {
    await this.limiter.penalty(clientIp || "unknown", 1);
  }
}

export function rateLimited(res: RateLimiterRes): DomainError {
  return new DomainError("resource_exhausted", "RATE_LIMITED", "too many failed attempts; try again later", {
    retryAfterSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
  });
}
