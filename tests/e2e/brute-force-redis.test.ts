import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { Code } from "@connectrpc/connect";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { authClientOf, loginFrom, uniqueV6, useServers, WRONG_PASSWORD } from "../helpers/mfa-brute-force-e2e.js";
import { expectFailure, expectRateLimited } from "../helpers/expect-error.js";
import { uniqueEmail } from "../helpers/unique.js";
import { SLOW_TEST } from "../helpers/server-process.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, STRONG_PASSWORD } from "../helpers/test-app.js";

const REDIS_URL = process.env.TEST_REDIS_URL || "redis://127.0.0.1:6379";
const LOGIN_MAX = 4;

/** A TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// Other test files may share this Redis: this file's counters are keyed by its own random
// accounts and (through the trusted-proxy header) its own random addresses, and removed afterwards.
const me = uniqueV6();
const shared = {
  REDIS_URL,
  WARDEN_LOGIN_MAX_FAILURES: String(LOGIN_MAX),
  WARDEN_TRUSTED_PROXIES: "127.0.0.1",
  WARDEN_NETWORK_MAX_FAILURES: "1000",
  WARDEN_SUBNET_MAX_FAILURES: "10000",
};
const port = await closedPort();

describe("the Redis-backed engine (real servers)", SLOW_TEST, () => {
  const servers = useServers({ env: shared }, { env: shared }, { env: { ...shared, REDIS_URL: `redis://127.0.0.1:${port}` } });
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const emails: string[] = [];

  afterAll(async () => {
    const keys = [...emails.map((e) => `warden:account:${e}`)];
    for await (const batch of redis.scanStream({ match: `warden:*${me.tag}*`, count: 1000 })) keys.push(...(batch as string[]));
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  /** The same account registered on both instances (each has its own database; only counters are shared). */
  async function accountOnBoth(tag: string): Promise<string> {
    const email = uniqueEmail(tag);
    emails.push(email);
    const [a, b] = servers().map(authClientOf);
    await a!.register({ email, password: STRONG_PASSWORD, displayName: tag }, { headers: { "x-forwarded-for": me.address } });
    await b!.register({ email, password: STRONG_PASSWORD, displayName: tag }, { headers: { "x-forwarded-for": me.address } });
    return email;
  }

  it("shares the account budget: failures on A and B lock the account on both", async () => {
    const [a, b] = servers().map(authClientOf);
    const email = await accountOnBoth("shared-lock");
    for (const auth of [a, b, a, b].slice(0, LOGIN_MAX)) await expectFailure(loginFrom(auth!, me.address, email), Code.Unauthenticated, "INVALID_CREDENTIALS");
    expect(Number(await redis.get(`warden:account:${email}`))).toBe(LOGIN_MAX);

    await expectRateLimited(loginFrom(b!, me.address, email, STRONG_PASSWORD));
    await expectRateLimited(loginFrom(a!, me.address, email, STRONG_PASSWORD));
  });

  it("shares the reset: a good sign-in on B clears failures counted on A", async () => {
    const [a, b] = servers().map(authClientOf);
    const email = await accountOnBoth("shared-reset");
    for (let i = 0; i < LOGIN_MAX - 1; i++) await expectFailure(loginFrom(a!, me.address, email), Code.Unauthenticated);
    expect((await loginFrom(b!, me.address, email, STRONG_PASSWORD)).accessToken).not.toBe("");
    expect(await redis.get(`warden:account:${email}`)).toBeNull();
    await expectFailure(loginFrom(a!, me.address, email), Code.Unauthenticated, "INVALID_CREDENTIALS");
  });

  it("fails closed when Redis is unreachable: Login answers UNAVAILABLE, never OK", async () => {
    const auth = authClientOf(servers()[2]!);
    for (const password of [ADMIN_PASSWORD, WRONG_PASSWORD, ADMIN_PASSWORD])
      await expectFailure(loginFrom(auth, me.address, ADMIN_EMAIL, password), Code.Unavailable, "RATE_LIMITER_UNAVAILABLE");
  });
});
