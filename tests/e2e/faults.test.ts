import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { connect } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoginRequestSchema } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { createScratchDatabase, dropScratchDatabase, TEST_PG_URL } from "../helpers/database.js";
import { errorOf, expectError } from "../helpers/expect-error.js";
import {
  clientsFor,
  grpcClient,
  grpcCode,
  grpcFrame,
  grpcRawHttp2,
  grpcUnary,
  LOGIN,
  metricValue,
  postConnect,
  registerAndLogin,
  type Clients,
} from "../helpers/e2e-clients.js";
import { makeTempDir, SLOW_TEST, startServerProcess, useServerProcess, type ServerProcess, type StartOptions } from "../helpers/server-process.js";
import { startTcpProxy, throughProxy, type TcpProxy } from "../helpers/tcp-proxy.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";
import { eventually } from "../helpers/probes.js";

const ADMIN = { email: ADMIN_EMAIL, password: ADMIN_PASSWORD };

/** Resolves true when a new TCP connection to the port is refused, false when it is accepted. */
function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => (err.code === "ECONNREFUSED" ? resolve(true) : reject(err)));
  });
}

/** A server for the enclosing describe, and connect-es clients for it over HTTP/2. */
function useServer(opts: () => StartOptions | Promise<StartOptions>): { server: () => ServerProcess; clients: () => Clients } {
  const server = useServerProcess(opts);
  let clients: Clients | undefined;
  return { server, clients: () => (clients ??= clientsFor(createConnectTransport({ baseUrl: server().baseUrl, httpVersion: "2" }))) };
}

describe("deadlines, then SIGTERM drain (one server)", () => {
  const GRACE_S = 3;
  // Two hashing threads make 20 parallel Logins take a few hundred milliseconds: SIGTERM lands mid-way.
  const { server, clients } = useServer(() => ({
    env: { WARDEN_SHUTDOWN_GRACE: String(GRACE_S), WARDEN_LOGIN_MAX_FAILURES: "100", UV_THREADPOOL_SIZE: "2" },
  }));

  it("a client deadline shorter than the work -> DEADLINE_EXCEEDED (Connect header, gRPC header, grpc-js deadline)", async () => {
    const s = server();
    const requestId = `e2e-deadline-${randomBytes(6).toString("hex")}`;
    const viaConnect = await postConnect(s.baseUrl, LOGIN, ADMIN, { "connect-timeout-ms": "1", "x-request-id": requestId });
    expect(viaConnect.status).toBe(504);
    expect(viaConnect.json.code).toBe("deadline_exceeded");
    const line = await s.waitForLog((l) => l.request_id === requestId, 5000);
    expect(line).toMatchObject({ method: LOGIN, code: "DeadlineExceeded" });

    // gRPC written by hand, so the status comes from the server and not from a client timer.
    const body = grpcFrame(toBinary(LoginRequestSchema, create(LoginRequestSchema, ADMIN)));
    const viaGrpc = await grpcRawHttp2(s.baseUrl, `/${LOGIN}`, body, { "grpc-timeout": "1m" });
    expect(viaGrpc.grpcStatus).toBe(String(grpc.status.DEADLINE_EXCEEDED));

    const auth = grpcClient(s.address, "warden.auth.v1.AuthService");
    try {
      expect(await grpcCode(grpcUnary(auth, "Login", ADMIN, { deadlineMs: 5 }))).toBe(grpc.status.DEADLINE_EXCEEDED);
      await expectError(clients().auth.login(ADMIN, { timeoutMs: 5 }), Code.DeadlineExceeded);
      // Without a deadline the same call succeeds: the work was never the problem.
      expect((await grpcUnary(auth, "Login", ADMIN, { deadlineMs: 10_000 })).user.email).toBe(ADMIN_EMAIL);
    } finally {
      auth.close();
    }
  });

  it("SIGTERM: in-flight Logins finish OK, new connections are refused, streams end with UNAVAILABLE after the grace period, exit 0", SLOW_TEST, async () => {
    const s = server();
    const h2 = clients();
    // Connections exist before the signal: the HTTP/2 session and a pool of HTTP/1.1 keep-alive sockets.
    await Promise.all([h2.health.check({}), ...Array.from({ length: 10 }, () => fetch(`${s.baseUrl}/healthz`).then((r) => r.text()))]);

    const watchClient = grpcClient(s.address, "grpc.health.v1.Health");
    const watch = (watchClient as any).Watch({ service: "" }) as grpc.ClientReadableStream<{ status: string }>;
    const watchUpdates: string[] = [];
    // How the stream ended: the gRPC status the client saw (none when it ended OK).
    const watchClosed = new Promise<{ at: number; code?: grpc.status; details?: string }>((resolve) => {
      watch.on("data", (m) => watchUpdates.push(m.status));
      watch.on("error", (err: grpc.ServiceError) => resolve({ at: Date.now(), code: err.code, details: err.details }));
      watch.on("end", () => resolve({ at: Date.now() }));
    });
    await eventually(async () => watchUpdates.length > 0, 5000, "the first Watch update");
    expect(watchUpdates[0]).toBe("SERVING");

    const finishedAt: number[] = [];
    const done = <T>(p: Promise<T>) => p.finally(() => finishedAt.push(Date.now()));
    const logins = [
      ...Array.from({ length: 10 }, () => done(h2.auth.login(ADMIN)).then((r) => r.user?.email)),
      ...Array.from({ length: 10 }, () => done(postConnect(s.baseUrl, LOGIN, ADMIN)).then((r) => (r.status === 200 ? r.json.user.email : `HTTP ${r.status}`))),
    ];
    const settled = Promise.allSettled(logins);
    // Every Login has reached the server (in flight there, or already answered) before the signal.
    await eventually(async () => (await metricValue(s.baseUrl, "warden_rpc_in_flight")) + finishedAt.length >= 20, 10_000, "20 Logins in flight");

    const signalledAt = Date.now();
    s.child.kill("SIGTERM");
    await s.waitForLog((l) => l.msg === "draining" && l.signal === "SIGTERM", 5000);
    const refusedWhileDraining = await eventually(() => connectionRefused(s.port), 2000, "new connections refused while draining");
    expect(refusedWhileDraining).toBeLessThan(2000);
    expect(s.child.exitCode).toBeNull(); // still draining: the Watch stream holds it open

    const results = await settled;
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : String(r.reason)))).toEqual(Array(20).fill(ADMIN_EMAIL));
    expect(finishedAt.filter((t) => t > signalledAt).length, "some Logins were still running at SIGTERM").toBeGreaterThan(0);

    const exit = await s.exited;
    const exitedAfter = Date.now() - signalledAt;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitedAfter).toBeLessThan(GRACE_S * 1000 + 4000);
    const watchEnd = await watchClosed;
    expect(watchEnd.at - signalledAt).toBeLessThan(GRACE_S * 1000 + 4000);
    // A status from the server, not a reset connection: UNAVAILABLE tells the client to retry elsewhere.
    expect(watchEnd.code, watchEnd.details).toBe(grpc.status.UNAVAILABLE);
    expect(watchEnd.details).toMatch(/shutting down/i);
    watchClient.close();
    expect(s.logLines().some((l) => l.msg === "stopped")).toBe(true);
    expect(await connectionRefused(s.port)).toBe(true);
  });
});

describe("kill -9 during writes on the embedded database (PGlite)", () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = makeTempDir();
  });
  afterAll(() => dataDir && rmSync(dataDir, { recursive: true, force: true }));

  it("every acknowledged Register is there after a restart on the same data directory", SLOW_TEST, async () => {
    const first = await startServerProcess({ dataDir });
    const acked: string[] = [];
    let failures = 0;
    try {
      const { auth } = clientsFor(createConnectTransport({ baseUrl: first.baseUrl, httpVersion: "1.1" }));
      let running = true;
      const writer = async () => {
        while (running) {
          const email = uniqueEmail("durable");
          try {
            await auth.register({ email, password: STRONG_PASSWORD, displayName: "Durable" });
            acked.push(email);
          } catch {
            failures++;
            return; // the server is gone
          }
        }
      };
      const writers = Array.from({ length: 4 }, writer);
      await eventually(async () => acked.length >= 8, 60_000, "8 acknowledged Registers");
      await first.kill(); // SIGKILL with Registers in flight
      running = false;
      await Promise.all(writers);
    } finally {
      await first.dispose();
    }
    expect(failures).toBeGreaterThan(0); // some writes were cut off mid-flight

    const second = await startServerProcess({ dataDir });
    try {
      const { auth, user } = clientsFor(createConnectTransport({ baseUrl: second.baseUrl, httpVersion: "2" }));
      const admin = await auth.login(ADMIN);
      const found = await Promise.all(acked.map((email) => user.getUserByEmail({ email }, bearer(admin.accessToken)).then((r) => r.user?.email)));
      expect(found).toEqual(acked);
      const last = await auth.login({ email: acked[acked.length - 1]!, password: STRONG_PASSWORD });
      expect(last.user?.email).toBe(acked[acked.length - 1]);
    } finally {
      await second.dispose();
    }
  });
});

describe.skipIf(!TEST_PG_URL)("PostgreSQL goes away and comes back (through a TCP proxy)", () => {
  let databaseUrl: string;
  let proxy: TcpProxy;
  // Registered first, so it runs last (after hooks run in reverse): the server stops before its database goes.
  afterAll(async () => {
    await proxy?.close();
    if (databaseUrl) await dropScratchDatabase(databaseUrl);
  });
  const { server, clients } = useServer(async () => {
    databaseUrl = await createScratchDatabase();
    const pg = new URL(TEST_PG_URL);
    proxy = await startTcpProxy(pg.hostname, Number(pg.port || 5432));
    return { env: { DATABASE_URL: throughProxy(databaseUrl, proxy) } };
  });

  it("fails closed with UNAVAILABLE while it is down, /readyz 503, and recovers without a restart", SLOW_TEST, async () => {
    const s = server();
    const { auth, session } = clients();
    const { email, login } = await registerAndLogin(auth, "dbdown");
    const ready = async () => (await fetch(`${s.baseUrl}/readyz`)).status;
    expect(await ready()).toBe(200);

    await proxy.cut();
    const grpcAuth = grpcClient(s.address, "warden.auth.v1.AuthService");
    try {
      // A few tries only: each failed Login takes a point from the account's failure budget.
      for (let i = 0; i < 3; i++) {
        await expectError(auth.login({ email, password: STRONG_PASSWORD }), Code.Unavailable, "DATABASE_UNAVAILABLE");
      }
      expect(await grpcCode(grpcUnary(grpcAuth, "Login", ADMIN))).toBe(grpc.status.UNAVAILABLE);
      // The token was never validated on this instance, so nothing is cached: the database must answer.
      await expectError(session.validateSession({}, bearer(login.accessToken)), Code.Unavailable, "DATABASE_UNAVAILABLE");
      await eventually(async () => (await ready()) === 503, 6000, "/readyz 503");
      expect(await (await fetch(`${s.baseUrl}/healthz`)).json()).toEqual({ status: "ok" }); // alive, not ready

      await proxy.restore();
      await eventually(async () => (await auth.login({ email, password: STRONG_PASSWORD })).user?.email === email, 15_000, "Login after restore");
      expect((await session.validateSession({}, bearer(login.accessToken))).valid).toBe(true);
      expect((await grpcUnary(grpcAuth, "Login", ADMIN)).user.email).toBe(ADMIN_EMAIL);
      await eventually(async () => (await ready()) === 200, 6000, "/readyz 200");
      expect(s.child.exitCode).toBeNull();
    } finally {
      grpcAuth.close();
    }
  });
});

describe.skipIf(!TEST_PG_URL)("revocation across instances (LISTEN/NOTIFY)", () => {
  let databaseUrl: string;
  let a: ServerProcess;
  let b: ServerProcess;
  beforeAll(async () => {
    databaseUrl = await createScratchDatabase();
    const env = { DATABASE_URL: databaseUrl, WARDEN_SESSION_CACHE_TTL: "120" };
    [a, b] = await Promise.all([startServerProcess({ env }), startServerProcess({ env })]);
  }, SLOW_TEST.timeout);
  afterAll(async () => {
    await Promise.all([a?.dispose(), b?.dispose()]);
    if (databaseUrl) await dropScratchDatabase(databaseUrl);
  });

  it("Logout on A is refused on B within about a second, although B cached the session for 120 s", SLOW_TEST, async () => {
    const onA = clientsFor(createConnectTransport({ baseUrl: a.baseUrl, httpVersion: "2" }));
    const onB = clientsFor(createConnectTransport({ baseUrl: b.baseUrl, httpVersion: "2" }));
    const { login } = await registerAndLogin(onA.auth, "xrevoke");
    const validateOnB = () => onB.session.validateSession({}, bearer(login.accessToken));
    expect((await validateOnB()).valid).toBe(true); // B now holds the session in its cache

    await onA.auth.logout({}, bearer(login.accessToken));
    const refusedOnB = async () => (await errorOf(validateOnB()))?.code === Code.Unauthenticated;
    const tookMs = await eventually(refusedOnB, 2000, "B refuses the token");
    expect(tookMs).toBeLessThan(2000);
    await expectError(onA.session.validateSession({}, bearer(login.accessToken)), Code.Unauthenticated);
  });
});
