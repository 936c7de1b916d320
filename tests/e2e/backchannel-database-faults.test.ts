import postgres from "postgres";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  answered,
  AUTHENTICATE,
  authRequest,
  backchannelEnv,
  backchannelUrl,
  BASIC,
  bufCurlGrpc,
  MESSAGES,
  registerMailUser,
  UUID,
  type MailUser,
} from "../helpers/backchannel.js";
import { createScratchDatabase, dropScratchDatabase, TEST_PG_URL } from "../helpers/database.js";
import { postConnect } from "../helpers/e2e-clients.js";
import { eventually } from "../helpers/probes.js";
import { SLOW_TEST, useServerProcess } from "../helpers/server-process.js";
import { startTcpProxy, throughProxy, type TcpProxy } from "../helpers/tcp-proxy.js";

/**
 * Faults never answer OK or FAIL: with its database away, the backchannel answers
 * AUTH_DECISION_TEMPFAIL, which a mail server turns into "try again later" instead of "wrong
 * password". A real server on a scratch PostgreSQL database behind a TCP proxy that the test
 * cuts (connections refused) or freezes (connections hang; answered within backchannel_timeout).
 */
const BACKCHANNEL_TIMEOUT_S = 2;
const MAX_FAILURES = 3;
/** Slack on top of a timeout for a loaded two-core machine. */
const SLACK_MS = 5000;

describe.skipIf(!TEST_PG_URL)(
  "[PostgreSQL only: needs TEST_DATABASE_URL] the backchannel with its database cut or hung (a real server behind a TCP proxy)",
  () => {
    let databaseUrl: string;
    let proxy: TcpProxy;
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
        env: backchannelEnv({
          DATABASE_URL: throughProxy(databaseUrl, proxy),
          WARDEN_BACKCHANNEL_TIMEOUT: String(BACKCHANNEL_TIMEOUT_S),
          WARDEN_LOGIN_MAX_FAILURES: String(MAX_FAILURES),
        }),
      };
    });
    afterEach(async () => {
      proxy?.thaw();
      await proxy?.restore();
    });

    /** Connect JSON, as a mail server's script would post it with curl. */
    const authenticate = async (body: Record<string, unknown>) => {
      const started = Date.now();
      const r = await postConnect(backchannelUrl(server()), AUTHENTICATE, body, { authorization: BASIC });
      expect(r.status, r.text).toBe(200);
      return { ...r.json, ms: Date.now() - started };
    };
    const tempfail = { decision: "AUTH_DECISION_TEMPFAIL", session: expect.stringMatching(UUID), backend: 100, statusMessage: MESSAGES.unavailable };

    /** A fresh user the server has answered OK for, so the pool holds open connections. */
    async function warmUser(tag: string, clientIp: string): Promise<MailUser> {
      const user = await registerMailUser(server().baseUrl, tag);
      expect((await authenticate(authRequest(user.email, user.password, { client_ip: clientIp }))).decision).toBe("AUTH_DECISION_OK");
      return user;
    }

    /** Asks with the right password until the answer is no TEMPFAIL (the database is back); that answer. */
    async function firstDecision(user: MailUser, clientIp: string): Promise<any> {
      let last: any;
      await eventually(
        async () => (last = await authenticate(authRequest(user.email, user.password, { client_ip: clientIp }))).decision !== "AUTH_DECISION_TEMPFAIL",
        20_000,
        "a decision other than TEMPFAIL once the database is back",
      );
      return last;
    }

    it(
      "database cut (connections refused): TEMPFAIL for right and wrong passwords alike, faults lock no one out, OK again after restore",
      SLOW_TEST,
      async () => {
        const ip = "198.51.100.61";
        const user = await warmUser("cut", ip);
        await proxy.cut();
        // More attempts than login_max_failures, with different wrong passwords: none may count.
        const answers = [];
        for (const password of [user.password, ...Array.from({ length: MAX_FAILURES + 1 }, (_, i) => `wrong-password-${i}-during-outage`)])
          answers.push(await authenticate(authRequest(user.email, password, { client_ip: ip })));
        answers.push(await authenticate(authRequest("unknown-during-outage@example.test", "some-password-long-enough", { client_ip: ip })));
        for (const a of answers) {
          expect(a).toEqual({ ...tempfail, error: expect.stringMatching(/^temporary failure \(/), ms: expect.any(Number) });
          expect(a.ms).toBeLessThan(BACKCHANNEL_TIMEOUT_S * 1000 + SLACK_MS);
        }
        // A gRPC caller (buf curl, by reflection: no database needed for that) gets the same decision.
        const grpc = answered(
          await bufCurlGrpc(backchannelUrl(server()), AUTHENTICATE, authRequest(user.email, user.password, { client_ip: ip }), { authorization: BASIC }),
        );
        expect(grpc).toMatchObject({ decision: "AUTH_DECISION_TEMPFAIL", statusMessage: MESSAGES.unavailable });
        expect(grpc.ok).toBeUndefined();

        await proxy.restore();
        // The first answer that is no TEMPFAIL (once the pool reconnects) is OK, not "too many": the
        // outage spent none of the address's budget, though it saw more wrong passwords than login_max_failures.
        expect(await firstDecision(user, ip)).toMatchObject({ decision: "AUTH_DECISION_OK", statusMessage: MESSAGES.ok });
      },
    );

    it(
      `database hung (connections frozen): TEMPFAIL within backchannel_timeout (${BACKCHANNEL_TIMEOUT_S}s) for every caller, OK again after thaw`,
      SLOW_TEST,
      async () => {
        const ip = "198.51.100.62";
        const user = await warmUser("frozen", ip);
        proxy.freeze();
        const url = backchannelUrl(server());
        const started = Date.now();
        const [good, wrong, unknown, grpc] = await Promise.all([
          authenticate(authRequest(user.email, user.password, { client_ip: ip })),
          authenticate(authRequest(user.email, "wrong-password-while-frozen", { client_ip: ip })),
          authenticate(authRequest("unknown-while-frozen@example.test", "some-password-long-enough", { client_ip: ip })),
          bufCurlGrpc(url, AUTHENTICATE, authRequest(user.email, user.password, { client_ip: "198.51.100.63" }), { authorization: BASIC }),
        ]);
        for (const a of [good, wrong, unknown]) {
          expect(a).toEqual({ ...tempfail, error: `no decision within ${BACKCHANNEL_TIMEOUT_S * 1000} ms`, ms: expect.any(Number) });
          // The server's own timer answered: not sooner (that would be another fault), not much later.
          expect(a.ms).toBeGreaterThanOrEqual(BACKCHANNEL_TIMEOUT_S * 1000 - 100);
          expect(a.ms).toBeLessThan(BACKCHANNEL_TIMEOUT_S * 1000 + SLACK_MS);
        }
        expect(answered(grpc)).toMatchObject({ decision: "AUTH_DECISION_TEMPFAIL", statusMessage: MESSAGES.unavailable });
        expect(Date.now() - started).toBeLessThan(BACKCHANNEL_TIMEOUT_S * 1000 + 2 * SLACK_MS);
        expect(proxy.frozen()).toBe(true); // still hung: the answers came from the timer

        proxy.thaw();
        expect(await firstDecision(user, ip)).toMatchObject({ decision: "AUTH_DECISION_OK", statusMessage: MESSAGES.ok });
        // The checks the timer cut short finish once the database answers; they must leave no
        // success behind, since the mail server was told to retry.
        const sessions = [good, wrong, unknown].map((a) => String(a.session));
        await new Promise((r) => setTimeout(r, 1500));
        const pg = postgres(databaseUrl, { max: 1, onnotice: () => {} });
        try {
          expect(await pg`select outcome from audit_events where request_id = any(${sessions}) and outcome = 'success'`).toHaveLength(0);
        } finally {
          await pg.end();
        }
      },
    );
  },
);
