import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { authClientOf, loginFrom, uniqueV6, WRONG_PASSWORD } from "../helpers/mfa-brute-force-e2e.js";
import { expectFailure } from "../helpers/expect-error.js";
import { useServedApp } from "../helpers/served-app.js";
import { SLOW_TEST, useServerProcess } from "../helpers/server-process.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";
import { STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";
import { eventually, readyz } from "../helpers/probes.js";

/**
 * Fault: the brute-force counters live in Redis and Redis goes away. Credential calls fail
 * closed (UNAVAILABLE, RATE_LIMITER_UNAVAILABLE: no unlimited guessing while the counters are
 * gone), and readiness says so, so that a load balancer sends traffic to an instance that can
 * count: /readyz 503 with redis down, and the gRPC health check NOT_SERVING. The server reaches
 * Redis through a TCP proxy the test cuts and restores.
 */
const REDIS_URL = process.env.TEST_REDIS_URL || "redis://127.0.0.1:6379";

describe("Redis behind a proxy that the test cuts (a real server with redis_url)", () => {
  // Other test files may share this Redis: this file's counters are keyed by its own random
  // account and (through the trusted-proxy header) its own random address, and removed afterwards.
  const me = uniqueV6();
  const email = uniqueEmail("redis-ready");
  const redisTarget = new URL(REDIS_URL);
  let proxy: TcpProxy;
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  // Registered first, so it runs last: the server stops before its proxy goes.
  afterAll(async () => {
    await proxy?.close();
    const keys: string[] = [];
    for (const match of [`warden:*${me.tag}*`, `warden:*${email}*`])
      for await (const batch of redis.scanStream({ match, count: 1000 })) keys.push(...(batch as string[]));
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  const server = useServerProcess(async () => {
    proxy = await startTcpProxy(redisTarget.hostname, Number(redisTarget.port || 6379));
    const viaProxy = new URL(REDIS_URL);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(proxy.port);
    return { env: { REDIS_URL: viaProxy.toString(), WARDEN_TRUSTED_PROXIES: "127.0.0.1" } };
  });

  it(
    "Redis unreachable: /readyz 503 with redis down, gRPC health NOT_SERVING, password Login fails closed (UNAVAILABLE, RATE_LIMITER_UNAVAILABLE); ready again once it is back",
    SLOW_TEST,
    async () => {
      const s = server();
      const auth = authClientOf(s);
      const health = createClient(Health, createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" }));
      const headers = { "x-forwarded-for": me.address };
      await auth.register({ email, password: STRONG_PASSWORD, displayName: "Redis ready" }, { headers });
      expect((await loginFrom(auth, me.address, email, STRONG_PASSWORD)).user?.email).toBe(email);
      expect(await readyz(s.baseUrl)).toEqual({ status: 200, body: { status: "ready", database: "up", redis: "up" } });
      expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);

      await proxy.cut();
      // A good password and a wrong one alike: no answer about the credential while nothing counts.
      for (const password of [STRONG_PASSWORD, WRONG_PASSWORD, STRONG_PASSWORD])
        await expectFailure(loginFrom(auth, me.address, email, password), Code.Unavailable, "RATE_LIMITER_UNAVAILABLE");
      await eventually(
        async () => {
          const r = await readyz(s.baseUrl);
          return r.status === 503 && r.body.redis === "down";
        },
        10_000,
        "/readyz 503 with redis down",
      );
      // The database is fine: only Redis is named as down.
      expect(await readyz(s.baseUrl)).toEqual({ status: 503, body: { status: "not_ready", database: "up", redis: "down" } });
      expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
      expect(await (await fetch(`${s.baseUrl}/healthz`)).json()).toEqual({ status: "ok" }); // alive, not ready

      await proxy.restore();
      await eventually(async () => (await readyz(s.baseUrl)).status === 200, 15_000, "/readyz 200 after Redis is back");
      expect((await readyz(s.baseUrl)).body).toEqual({ status: "ready", database: "up", redis: "up" });
      expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      await eventually(async () => (await loginFrom(auth, me.address, email, STRONG_PASSWORD)).user?.email === email, 10_000, "Login after Redis is back");
      expect(s.child.exitCode).toBeNull();
    },
  );
});

describe("without redis_url (counters in memory)", () => {
  const served = useServedApp();

  it("/readyz lists the database only: there is no Redis to report", async () => {
    const { server } = served();
    const r = await readyz(server.url);
    expect(r).toEqual({ status: 200, body: { status: "ready", database: "up" } });
    expect(r.body).not.toHaveProperty("redis");
  });
});
