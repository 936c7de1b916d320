import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { DomainError } from "../errors.js";
import { networkKeys } from "./network.js";

export interface Budget {
  points: number;
  durationSeconds: number;
}

/** The credential kinds whose failures are counted per client address and network, each apart. */
export const RATE_CLASSES = [
  "password",
  "refresh_token",
  "otp",
  "passkey",
  "api_key",
  "service_account",
  "backchannel_caller",
  "join_token",
  "agent_token",
] as const;
export type RateClass = (typeof RATE_CLASSES)[number];

export interface NetworkBudgets {
  /** Failed attempts per address (/32, /128), each budget a window (e.g. 15 minutes and a day). */
  address: Budget[];
  /** Failed attempts per network (/24, /64). */
  subnet: Budget[];
}

export interface BruteForceOptions {
  /** Failed attempts at one account from one client address. */
  accountAddress: Budget;
  /**
   * Failed attempts at one account from every address together. Past it the account is under
   * attack: only networks its owner signed in from before may still try a password.
   */
  account: Budget;
  /** Per credential kind: a flood of bad refresh tokens does not spend the password budget. */
  network: Record<RateClass, NetworkBudgets>;
  /** Attempts of any outcome: sign-ups per address, codes sent per phone, ... */
  quotas: Record<string, Budget>;
}

/** An account's failure count is kept per client address too: this is that key. */
function accountAddressKey(account: string, ip: string): string {
  return `${account}|${networkKeys(ip).address}`;
}

/**
 * A client's key in the per-address quotas: the address for IPv4, the /64 for IPv6, where a
 * client holds a whole prefix and could otherwise rotate through it.
 */
export function quotaKeyOf(ip: string): string {
  const { address, subnet } = networkKeys(ip);
  return address.includes(":") ? subnet : address;
}

/**
 * One brute-force engine for every credential path, in memory or in Redis (shared by all
 * instances). Failure budgets are taken before the credential is checked, so parallel
 * attempts are counted exactly and an exhausted budget costs no hashing and no database
 * write; a success gives the point back.
 *
 * Accounts are guarded so that an attacker cannot keep their owner out: failures are counted
 * per account and client address (an attacker's address runs out, the owner's does not), and
 * per account overall with a larger budget past which only networks the owner signed in from
 * before may try a password; nothing here blocks a refresh, a passkey or a federated sign-in.
 */
export class BruteForce {
  private readonly accountAddressLimiter: RateLimiterAbstract;
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
    this.accountAddressLimiter = make("account-address", opts.accountAddress);
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

  /**
   * Takes a point from the account's budget at this address, then from its overall budget. Over
   * the first, this address is refused; over the second, so is every network the owner has not
   * signed in from before (`knownNetwork` says whether this one is such a network).
   */
  async takeAccount(account: string, ip: string, opts: { knownNetwork?: () => Promise<boolean> } = {}): Promise<void> {
    const pair = accountAddressKey(account, ip);
    // Over the limit, the attempt is refused here: before any hashing or database read.
    await consume([[this.accountAddressLimiter, pair]]);
    try {
      await consume([[this.accountLimiter, account]]);
    } catch (err) {
      const known =
        isRateLimited(err) && opts.knownNetwork
          ? await opts.knownNetwork().catch(async (fault: unknown) => {
              await this.accountRefund(account, ip).catch(() => {});
              throw fault;
            })
          : false;
      if (known) return;
      await guard(() => this.accountAddressLimiter.reward(pair, 1));
      throw isRateLimited(err) ? underAttack(err) : err;
    }
  }

  /** Gives back the points of an attempt that a fault cut short: it proved nothing either way. */
  async accountRefund(account: string, ip: string): Promise<void> {
    await guard(() => Promise.all([this.accountAddressLimiter.reward(accountAddressKey(account, ip), 1), this.accountLimiter.reward(account, 1)]));
  }

  /** The owner proved themselves: the failures before stop counting. */
  async accountSucceeded(account: string, ip: string): Promise<void> {
    await guard(() => Promise.all([this.accountAddressLimiter.delete(accountAddressKey(account, ip)), this.accountLimiter.delete(account)]));
  }

  /** Whether this address has spent its budget at the account, without taking a point. */
  async accountLocked(account: string, ip: string): Promise<boolean> {
    const res = await guard(() => this.accountAddressLimiter.get(accountAddressKey(account, ip)));
    return !!res && res.consumedPoints >= this.accountAddressLimiter.points;
  }

  /** Refuses an address that spent its budget at the account (RATE_LIMITED with a retry-after hint), without taking a point. */
  async checkAccount(account: string, ip: string): Promise<void> {
    const res = await guard(() => this.accountAddressLimiter.get(accountAddressKey(account, ip)));
    if (res && res.consumedPoints >= this.accountAddressLimiter.points) throw rateLimited(res);
  }

  /** Failures at the account from every address in the current window. */
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

  /** Counts every attempt of a kind from one client (IPv6 by its /64), whatever the outcome. */
  async takeAddressQuota(kind: string, ip: string): Promise<void> {
    await this.takeQuota(kind, quotaKeyOf(ip));
  }

  /** Counts every attempt of a kind (no refund): codes sent per phone, emails per recipient. */
  async takeQuota(kind: string, key: string): Promise<void> {
    const limiter = this.quotaLimiters.get(kind);
    if (!limiter) throw new Error(`no quota "${kind}"`);
    await consume([[limiter, key]]);
  }

  /**
   * Takes `points` from a quota at once (a batch counts each item). A refused take is given
   * back, so that what was refused does not count against the window: RATE_LIMITED with the
   * retry-after hint of the window.
   */
  async takeQuotaPoints(kind: string, key: string, points: number): Promise<void> {
    const limiter = this.quotaLimiters.get(kind);
    if (!limiter) throw new Error(`no quota "${kind}"`);
    try {
      await limiter.consume(key, points);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw storeDown(err);
      await guard(() => limiter.reward(key, points));
      throw rateLimited(err);
    }
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

function isRateLimited(err: unknown): err is DomainError {
  return err instanceof DomainError && err.reason === "RATE_LIMITED";
}

/** The account-wide refusal: says why, and what still works. */
function underAttack(err: DomainError): DomainError {
  return new DomainError(
    "resource_exhausted",
    "RATE_LIMITED",
    "too many failed attempts at this account; sign in from a network you used before, or with a passkey or your identity provider",
    { retryAfterSeconds: err.extra.retryAfterSeconds, metadata: { budget: "account" } },
  );
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
