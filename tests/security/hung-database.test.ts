import { Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createScratchDatabase, dropScratchDatabase, TEST_PG_URL } from "../helpers/database.js";
import { clientsFor, LOGIN, postConnect, registerAndLogin, type Clients } from "../helpers/e2e-clients.js";
import { errorOf, expectError, reasonOf } from "../helpers/expect-error.js";
import { SLOW_TEST, useServerProcess } from "../helpers/server-process.js";
import { startTcpProxy, throughProxy, type TcpProxy } from "../helpers/tcp-proxy.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { eventually, readyz } from "../helpers/probes.js";

/**
 * Fault: a database that accepts connections but never answers (a hung server, a stalled
 * network path, a lock nobody releases). Refused connections fail fast on their own; a hang
 * would hold every caller, and every connection of the pool, forever. The server bounds each
 * call by call_timeout (UNAVAILABLE, SERVER_TIMEOUT) and each statement by
 * database_statement_timeout (cancelled by PostgreSQL, SQLSTATE 57014: UNAVAILABLE).
 */
const CALL_TIMEOUT_S = 4;
const STATEMENT_TIMEOUT_S = 1;
/** Slack on top of a timeout for a loaded two-core machine. */
const SLACK_MS = 5000;

/** Runs `call`, which must fail; answers the error and how long it took. */
async function failureTime(call: Promise<unknown>) {
  const started = Date.now();
  const err = await errorOf(call);
  return { err, ms: Date.now() - started };
}

describe.skipIf(!TEST_PG_URL)(
  "[PostgreSQL only: needs TEST_DATABASE_URL] PostgreSQL that hangs (a real server behind a TCP proxy that stops forwarding)",
  () => {
    let databaseUrl: string;
    let proxy: TcpProxy;
    let clients: Clients | undefined;
    // Registered first, so it runs last: the server stops before its database and proxy go.
    afterAll(async () => {
      await proxy?.close();
      if (databaseUrl) await dropScratchDatabase(databaseUrl);
    });
    const server = useServerProcess(async () => {
      databaseUrl = await createScratchDatabase();
      const pg = new URL(TEST_PG_URL);
      proxy = await startTcpProxy(pg.hostname, Number(pg.port || 5432));
      return {
        env: {
          DATABASE_URL: throughProxy(databaseUrl, proxy),
          WARDEN_CALL_TIMEOUT: String(CALL_TIMEOUT_S),
          WARDEN_DATABASE_STATEMENT_TIMEOUT: String(STATEMENT_TIMEOUT_S),
        },
      };
    });
    const rpc = () => (clients ??= clientsFor(createConnectTransport({ baseUrl: server().baseUrl, httpVersion: "1.1" })));
    afterEach(() => proxy?.thaw());

    it(
      "hung database: calls answer UNAVAILABLE (SERVER_TIMEOUT) within call_timeout instead of waiting forever, /readyz says database down, and the server serves again after thaw",
      SLOW_TEST,
      async () => {
        const s = server();
        const { auth, session } = rpc();
        const { email, login } = await registerAndLogin(auth, "hung");
        // Warm the pool: the calls below hang on connections that are already open.
        await Promise.all(Array.from({ length: 4 }, () => auth.login({ email, password: STRONG_PASSWORD })));
        expect(await readyz(s.baseUrl)).toEqual({ status: 200, body: { status: "ready", database: "up" } });

        proxy.freeze();
        expect(proxy.openConnections()).toBeGreaterThan(0);
        // Several calls at once, each needing the database: none may wait past call_timeout.
        const calls = [
          failureTime(auth.login({ email, password: STRONG_PASSWORD })),
          failureTime(auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })),
          failureTime(auth.register({ email: `hung-new-${Date.now()}@example.test`, password: STRONG_PASSWORD, displayName: "Hung" })),
          // Never validated on this instance, so nothing is cached: the database must answer.
          failureTime(session.validateSession({}, bearer(login.accessToken))),
        ];
        for (const { err, ms } of await Promise.all(calls)) {
          expect(err, "the call should have failed").toBeDefined();
          expect(`${Code[err!.code]}:${reasonOf(err!)}`, err!.message).toBe("Unavailable:SERVER_TIMEOUT");
          // The server's own timer answered: not sooner (a fast failure would be another fault), not much later.
          expect(ms).toBeGreaterThanOrEqual(CALL_TIMEOUT_S * 1000 - 100);
          expect(ms).toBeLessThan(CALL_TIMEOUT_S * 1000 + SLACK_MS);
        }
        // The same over plain Connect JSON (HTTP/1.1 fetch): 503 with code "unavailable".
        const started = Date.now();
        const viaJson = await postConnect(s.baseUrl, LOGIN, { email, password: STRONG_PASSWORD });
        expect(Date.now() - started).toBeLessThan(CALL_TIMEOUT_S * 1000 + SLACK_MS);
        expect(viaJson.status).toBe(503);
        expect(viaJson.json.code).toBe("unavailable");

        // Readiness does not wait for the hung database either: it answers 503 with the database down.
        await eventually(
          async () => {
            const r = await readyz(s.baseUrl);
            return r.status === 503 && r.body.database === "down" && r.body.status === "not_ready";
          },
          15_000,
          "/readyz 503 with database down",
        );
        expect(await (await fetch(`${s.baseUrl}/healthz`)).json()).toEqual({ status: "ok" }); // alive, not ready
        expect(proxy.frozen()).toBe(true); // still hung: the answers above came from timers

        proxy.thaw();
        await eventually(async () => (await auth.login({ email, password: STRONG_PASSWORD })).user?.email === email, 20_000, "Login after thaw");
        expect((await session.validateSession({}, bearer(login.accessToken))).valid).toBe(true);
        await eventually(async () => (await readyz(s.baseUrl)).status === 200, 10_000, "/readyz 200 after thaw");
        expect((await readyz(s.baseUrl)).body).toEqual({ status: "ready", database: "up" });
        expect(s.child.exitCode).toBeNull();
      },
    );

    it(
      "a statement that runs past database_statement_timeout (a table lock nobody releases) is cancelled by PostgreSQL: UNAVAILABLE, not a hang and not SERVER_TIMEOUT",
      SLOW_TEST,
      async () => {
        const s = server();
        const { auth } = rpc();
        const { email } = await registerAndLogin(auth, "locked");
        // Another session takes the users table and keeps it: every statement that reads it waits on the lock.
        const holder = postgres(databaseUrl, { max: 1, onnotice: () => {} });
        let release!: () => void;
        const released = new Promise<void>((r) => (release = r));
        let locked!: () => void;
        const lockTaken = new Promise<void>((r) => (locked = r));
        const holding = holder.begin(async (tx) => {
          await tx`lock table users in access exclusive mode`;
          locked();
          await released;
        });
        try {
          await lockTaken;
          const { err, ms } = await failureTime(auth.login({ email, password: STRONG_PASSWORD }));
          expect(err, "the call should have failed").toBeDefined();
          expect(`${Code[err!.code]}:${reasonOf(err!)}`, err!.message).toBe("Unavailable:DATABASE_UNAVAILABLE");
          // PostgreSQL cancelled it at the statement timeout, before the call timeout.
          expect(ms).toBeGreaterThanOrEqual(STATEMENT_TIMEOUT_S * 1000 - 100);
          expect(ms).toBeLessThan(CALL_TIMEOUT_S * 1000);
          // The cancelled statement did not hold its connection: readiness is unaffected by the lock.
          expect((await readyz(s.baseUrl)).status).toBe(200);
        } finally {
          release();
          await holding;
          await holder.end({ timeout: 5 });
        }
        expect((await auth.login({ email, password: STRONG_PASSWORD })).user?.email).toBe(email);
      },
    );
  },
);

describe("the database held by a stuck transaction (in process, PGlite or PostgreSQL)", () => {
  let t: TestApp | undefined;
  afterAll(async () => {
    await t?.close();
  });

  it("calls that need the held tables answer UNAVAILABLE (SERVER_TIMEOUT) after call_timeout, then succeed once it ends", SLOW_TEST, async () => {
    t = await createTestApp({ call_timeout: 1 });
    const auth = t.client(AuthService);
    expect((await auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).user?.email).toBe(ADMIN_EMAIL);

    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const lockTaken = new Promise<void>((r) => (locked = r));
    // PGlite runs one transaction at a time; on PostgreSQL the lock makes readers of users wait.
    const holding = t.app.hooks.db.transaction(async (tx) => {
      await tx.execute(sql`lock table users in access exclusive mode`);
      locked();
      await released;
    });
    try {
      await lockTaken;
      const started = Date.now();
      await expectError(auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }), Code.Unavailable, "SERVER_TIMEOUT");
      const ms = Date.now() - started;
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(1000 + SLACK_MS);
    } finally {
      release();
      await holding;
    }
    expect((await auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).user?.email).toBe(ADMIN_EMAIL);
  });
});
