import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { DomainError } from "../errors.js";
import { networkKeys } from "./network.js";

export interface Budget {
  points: number;
  durationSeconds: number;
}

/** The credential kinds whose failures are counted per client address and network, each apart. */
export const RATE_CLASSES = ["password", "refresh_token", "otp", "passkey", "api_key", "service_account"] as const;
export type RateClass = (typeof RATE_CLASSES)[number];

export interface NetworkBudgets {
  /** Failed attempts per address (/32, /128), each budget a window (e.g. 15 minutes and a day). */
  address: Budget[];
  /** Failed attempts per network (/24, /64). */
  subnet: Budget[];
}

export interface BruteForceOptions {
  /** Failed attempts per account. */
  account: Budget;
  /** Per credential kind: a flood of bad refresh tokens does not spend the password budget. */
  network: Record<RateClass, NetworkBudgets>;
  /** Attempts of any outcome: sign-ups per address, codes sent per phone, ... */
  quotas: Record<string, Budget>;
}

/**
 * One brute-force engine for every credential path, in memory or in Redis (shared by all
 * instances). Failure budgets are taken before the credential is checked, so parallel
 * attempts are counted exactly and an exhausted budget costs no hashing and no database
 * write; a success gives the point back.
 */
export class BruteForce {
  private readonly accountLimiter: RateLimiterAbstract;
  private readonly networkLimiters = new Map<RateClass, { address: RateLimiterAbstract[]; subnet: RateLimiterAbstract[] }>();
  private readonly quotaLimiters = new Map<string, RateLimiterAbstract>();

  constructor(opts: BruteForceOptions, redis?: Redis) {
    const make = (prefix: string, b: Budget) =>
      redis
        ? new RateLimiterRedis({
            storeClient: redis,
            keyPrefix: `warden:${prefix}`,
            points: b.points,
            duration: b.durationSeconds,
            rejectIfRedisNotReady: true,
          })
        : new RateLimiterMemory({ keyPrefix: prefix, points: b.points, duration: b.durationSeconds });
    this.accountLimiter = make("account", opts.account);
    for (const rateClass of RATE_CLASSES) {
      const budgets = opts.network[rateClass];
      this.networkLimiters.set(rateClass, {
        address: budgets.address.map((b, i) => make(`${rateClass}:address${i}`, b)),
        subnet: budgets.subnet.map((b, i) => make(`${rateClass}:subnet${i}`, b)),
      });
    }
    for (const [kind, b] of Object.entries(opts.quotas)) this.quotaLimiters.set(kind, make(`quota-${kind}`, b));
  }

  /** Takes a point from the account's failure budget; RATE_LIMITED when it is spent. */
  async takeAccount(account: string): Promise<void> {
    // Over the limit, the attempt is refused here: before any hashing or database write.
    await consume([[this.accountLimiter, account]]);
  }

  /** Gives back the point of an attempt that a fault cut short: it proved nothing either way. */
  async accountRefund(account: string): Promise<void> {
    await guard(() => this.accountLimiter.reward(account, 1));
  }

  async accountSucceeded(account: string): Promise<void> {
    await guard(() => this.accountLimiter.delete(account));
  }

  /** Whether the account's budget is spent, without taking a point. */
  async accountLocked(account: string): Promise<boolean> {
    const res = await guard(() => this.accountLimiter.get(account));
    return !!res && res.consumedPoints >= this.accountLimiter.points;
  }

  /** Refuses a locked account (RATE_LIMITED with a retry-after hint), without taking a point. */
  async checkAccount(account: string): Promise<void> {
    const res = await guard(() => this.accountLimiter.get(account));
    if (res && res.consumedPoints >= this.accountLimiter.points) throw rateLimited(res);
  }

  async consumed(account: string): Promise<number> {
    return (await guard(() => this.accountLimiter.get(account)))?.consumedPoints ?? 0;
  }

  /** Takes a point from the client's address and network budgets of this credential kind. */
  async takeNetwork(rateClass: RateClass, ip: string): Promise<void> {
    await consume(this.networkPairs(rateClass, ip));
  }

  async networkSucceeded(rateClass: RateClass, ip: string): Promise<void> {
    await guard(() => Promise.all(this.networkPairs(rateClass, ip).map(([l, k]) => l.reward(k, 1))));
  }

  /** Refuses a client whose budgets are spent, without taking a point. */
  async checkNetwork(rateClass: RateClass, ip: string): Promise<void> {
    for (const [limiter, key] of this.networkPairs(rateClass, ip)) {
      const res = await guard(() => limiter.get(key));
      if (res && res.consumedPoints >= limiter.points) throw rateLimited(res);
    }
  }

  async networkFailed(rateClass: RateClass, ip: string): Promise<void> {
    await guard(() => Promise.all(this.networkPairs(rateClass, ip).map(([l, k]) => l.penalty(k, 1))));
  }

  /** Counts every attempt of a kind (no refund): sign-ups per address, SMS per phone. */
  async takeQuota(kind: string, key: string): Promise<void> {
    const limiter = this.quotaLimiters.get(kind);
    if (!limiter) throw new Error(`no quota "${kind}"`);
    await consume([[limiter, key]]);
  }

  private networkPairs(rateClass: RateClass, ip: string): [RateLimiterAbstract, string][] {
    const { address, subnet } = networkKeys(ip);
    const limiters = this.networkLimiters.get(rateClass)!;
    return [
      ...limiters.address.map((l) => [l, address] as [RateLimiterAbstract, string]),
      ...limiters.subnet.map((l) => [l, subnet] as [RateLimiterAbstract, string]),
    ];
  }
}

/** Consumes one point from every bucket; over any of them -> RATE_LIMITED. */
async function consume(pairs: [RateLimiterAbstract, string][]): Promise<void> {
  const results = await Promise.allSettled(pairs.map(([l, k]) => l.consume(k, 1)));
  let worst: RateLimiterRes | undefined;
  for (const r of results) {
    if (r.status === "fulfilled") continue;
    if (!(r.reason instanceof RateLimiterRes)) throw storeDown(r.reason);
    if (!worst || r.reason.msBeforeNext > worst.msBeforeNext) worst = r.reason;
  }
  if (worst) throw rateLimited(worst);
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw storeDown(err);
  }
}

/** The counter store failing means no limit can be enforced: fail closed. */
function storeDown(err: unknown): DomainError {
  return new DomainError("unavailable", "RATE_LIMITER_UNAVAILABLE", "service temporarily unavailable", { cause: err });
}

export function rateLimited(res: RateLimiterRes): DomainError {
  return new DomainError("resource_exhausted", "RATE_LIMITED", "too many attempts; try again later", {
    retryAfterSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
  });
}
