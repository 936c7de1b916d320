import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  accessToken,
  answered,
  AUTHENTICATE,
  authRequest,
  BACKCHANNEL_PASSWORD,
  BASIC,
  bufCurl,
  bufCurlGrpc,
  LIST_ACCOUNTS,
  mailOrganization,
  MESSAGES,
  registerMailUser,
  startBackchannelWarden,
  UUID,
  verboseResponseHeader,
  type BackchannelWarden,
  type MailUser,
} from "../helpers/backchannel.js";
import { expectCleanLogs, grpcFrame, grpcRawHttp2, LOGIN, postConnect, REGISTER } from "../helpers/e2e-clients.js";
import { rpcLogLines } from "../helpers/native-clients.js";
import { SLOW_TEST } from "../helpers/server-process.js";
import { ADMIN_EMAIL, STRONG_PASSWORD } from "../helpers/test-app.js";

/**
 * The mail-server backchannel end to end: the published Nauthilus grpcurl examples, run with
 * `buf curl` through server reflection (no schema of its own) against the real server process,
 * with the metadata and JSON bodies a Nauthilus user sends. Users' outcomes are decisions in a
 * successful answer; the caller's failures are gRPC errors (buf curl exits with code x 8).
 */

/** Failures per account and client address before "too many" (login_max_failures). */
const MAX_FAILURES = 3;
const WRONG = (n: number) => `wrong-password-${n}-for-imap`;

/** buf curl's exit code for a gRPC status. */
const exitFor = { permissionDenied: 7 * 8, unauthenticated: 16 * 8, notFound: 5 * 8 };

describe("the Nauthilus backchannel with buf curl, by reflection, against the real server", () => {
  let w: BackchannelWarden;
  let alice: MailUser; // owns the organization
  let bob: MailUser; // a member of it
  let carol: MailUser; // not in it
  let dave: MailUser; // gets locked out from one address
  let erin: MailUser; // repeats one wrong password
  let tokens: Record<string, string>;
  let organizationId: string;

  beforeAll(async () => {
    w = await startBackchannelWarden({ WARDEN_LOGIN_MAX_FAILURES: String(MAX_FAILURES) });
    const base = w.server.baseUrl;
    [alice, bob, carol, dave, erin] = await Promise.all(["alice", "bob", "carol", "dave", "erin"].map((tag) => registerMailUser(base, tag)));
    ({ organizationId, tokens } = await mailOrganization(base, alice, [bob], {
      list: ["API_KEY_SCOPE_BACKCHANNEL", "API_KEY_SCOPE_BACKCHANNEL_LIST_ACCOUNTS"],
      authOnly: ["API_KEY_SCOPE_BACKCHANNEL"],
      reader: ["API_KEY_SCOPE_READ"],
    }));
  }, SLOW_TEST.timeout);
  afterAll(async () => {
    await w?.dispose();
  });

  const authenticate = (body: Record<string, unknown>, headers: Record<string, string> = { authorization: BASIC }, extra: string[] = []) =>
    bufCurlGrpc(w.backchannel, AUTHENTICATE, body, headers, extra);

  it("reflection on the backchannel lists only the Nauthilus contract, health and reflection", async () => {
    const services = await bufCurl(["--http2-prior-knowledge", "--list-services", w.backchannel]);
    expect(services.stdout.trim().split("\n").sort()).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "nauthilus.auth.v1.AuthService",
    ]);
    // grpcurl and older grpc-go tools still ask v1alpha.
    const methods = await bufCurl(["--http2-prior-knowledge", "--reflect-protocol", "grpc-v1alpha", "--list-methods", w.backchannel]);
    expect(methods.stdout.trim().split("\n")).toEqual(expect.arrayContaining([AUTHENTICATE, LIST_ACCOUNTS]));
    const health = await bufCurlGrpc(w.backchannel, "grpc.health.v1.Health/Check", { service: "nauthilus.auth.v1.AuthService" });
    expect(answered(health)).toEqual({ status: "SERVING" });
  });

  it("Authenticate, the published example (Basic, lowerCamel JSON): OK with the account's attributes, a fresh session and backend 100", async () => {
    // Field for field the grpcurl example of the Nauthilus docs.
    const example = { username: alice.email, password: alice.password, clientIp: "198.51.100.10", protocol: "imap", method: "plain", authLoginAttempt: 1 };
    const [first, second] = await Promise.all([authenticate(example), authenticate(authRequest(alice.email, alice.password))]);
    for (const r of [answered(first), answered(second)]) {
      expect(r).toEqual({
        ok: true,
        decision: "AUTH_DECISION_OK",
        session: expect.stringMatching(UUID),
        accountField: "account",
        backend: 100,
        attributes: expect.objectContaining({
          account: { values: [alice.email] },
          mail: { values: [alice.email] },
          uid: { values: [alice.id] },
          organizations: { values: [organizationId] },
        }),
        statusMessage: MESSAGES.ok,
      });
    }
    // One session id per decision.
    expect(first.json.session).not.toBe(second.json.session);
  });

  it("a wrong password is a FAIL decision in a successful answer, not an error", async () => {
    const r = await authenticate(authRequest(carol.email, WRONG(0)));
    expect(answered(r)).toEqual({ decision: "AUTH_DECISION_FAIL", session: expect.stringMatching(UUID), backend: 100, statusMessage: MESSAGES.invalid });
    // An unknown account answers the same.
    const unknown = await authenticate(authRequest("nobody-here@example.test", WRONG(0)));
    expect({ ...answered(unknown), session: "" }).toEqual({ ...r.json, session: "" });
  });

  it("accept-language: de gives a German status_message and a content-language: de response header (gRPC and Connect JSON)", async () => {
    const grpc = await authenticate(authRequest(carol.email, WRONG(1)), { authorization: BASIC, "accept-language": "de" }, ["-v"]);
    expect(answered(grpc)).toMatchObject({ decision: "AUTH_DECISION_FAIL", statusMessage: MESSAGES.invalidDe });
    expect(verboseResponseHeader(grpc.stderr, "Content-Language")).toBe("de");
    const ok = await authenticate(authRequest(carol.email, carol.password), { authorization: BASIC, "accept-language": "de-DE" });
    expect(answered(ok)).toMatchObject({ decision: "AUTH_DECISION_OK", statusMessage: MESSAGES.okDe });

    // Connect JSON, as curl would post it: the header is an ordinary HTTP response header.
    const json = (language: string) =>
      postConnect(w.backchannel, AUTHENTICATE, authRequest(carol.email, WRONG(2)), { authorization: BASIC, "accept-language": language });
    const [de, fr, es] = await Promise.all([json("de"), json("fr-CH, fr;q=0.9, en;q=0.8"), json("es")]);
    expect([de.status, de.headers.get("content-language"), de.json.statusMessage]).toEqual([200, "de", MESSAGES.invalidDe]);
    expect([fr.status, fr.headers.get("content-language"), fr.json.statusMessage]).toEqual([200, "fr", MESSAGES.invalidFr]);
    // A language the server does not speak: the default, English.
    expect([es.status, es.headers.get("content-language"), es.json.statusMessage]).toEqual([200, "en", MESSAGES.invalid]);
  });

  /** The same call as Connect JSON (what curl would post): the failures leading up to the case under test. */
  const viaJson = async (body: Record<string, unknown>) => {
    const r = await postConnect(w.backchannel, AUTHENTICATE, body, { authorization: BASIC });
    expect(r.status, r.text).toBe(200);
    return r.json;
  };

  it(`after ${MAX_FAILURES} different wrong passwords from one client_ip: FAIL "too many" there (even with the right password), OK from another address`, async () => {
    const body = (ip: string, password: string) => authRequest(dave.email, password, { client_ip: ip });
    for (let i = 0; i < MAX_FAILURES; i++) expect((await viaJson(body("198.51.100.23", WRONG(i)))).statusMessage).toBe(MESSAGES.invalid);
    const tooMany = answered(await authenticate(body("198.51.100.23", WRONG(MAX_FAILURES))));
    expect(tooMany).toEqual({ decision: "AUTH_DECISION_FAIL", session: expect.stringMatching(UUID), backend: 100, statusMessage: MESSAGES.tooMany });
    const [locked, elsewhere] = await Promise.all([
      authenticate(body("198.51.100.23", dave.password)),
      // The budget is per account and address: the owner elsewhere is not locked out.
      authenticate(body("198.51.100.24", dave.password)),
    ]);
    expect([answered(locked).decision, locked.json.ok, locked.json.statusMessage]).toEqual(["AUTH_DECISION_FAIL", undefined, MESSAGES.tooMany]);
    expect(answered(elsewhere).decision).toBe("AUTH_DECISION_OK");
  });

  it("the same wrong password repeated (a misconfigured mail client) counts once: the right one is still OK afterwards", async () => {
    const body = (password: string) => authRequest(erin.email, password, { client_ip: "198.51.100.42" });
    for (let i = 0; i < MAX_FAILURES + 2; i++) expect((await viaJson(body(WRONG(7)))).statusMessage).toBe(MESSAGES.invalid);
    expect(answered(await authenticate(body(WRONG(7)))).statusMessage).toBe(MESSAGES.invalid);
    expect(answered(await authenticate(body(erin.password))).decision).toBe("AUTH_DECISION_OK");
  });

  it("ListAccounts: a service account with the list-accounts scope sees its organization's members; Basic sees every account", async () => {
    const body = { username: alice.email, clientIp: "198.51.100.10", protocol: "account-provider" }; // the published example
    const byServiceAccount = answered(await bufCurlGrpc(w.backchannel, LIST_ACCOUNTS, body, { authorization: `Bearer ${tokens.list}` }));
    expect(byServiceAccount.accounts.sort()).toEqual([alice.email, bob.email].sort());
    expect(byServiceAccount.session).toMatch(UUID);
    const byBasic = answered(await bufCurlGrpc(w.backchannel, LIST_ACCOUNTS, body, { authorization: BASIC }));
    expect(byBasic.accounts).toEqual(expect.arrayContaining([ADMIN_EMAIL, alice.email, bob.email, carol.email]));
    expect(new Set(byBasic.accounts).size).toBe(byBasic.accounts.length);
  });

  it("service accounts: Authenticate needs the backchannel scope, ListAccounts its list-accounts scope (PERMISSION_DENIED otherwise)", async () => {
    const bearer = (name: string) => ({ authorization: `Bearer ${tokens[name]}` });
    const [auth, list, reader] = await Promise.all([
      authenticate(authRequest(bob.email, bob.password), bearer("authOnly")),
      bufCurlGrpc(w.backchannel, LIST_ACCOUNTS, { username: bob.email }, bearer("authOnly")),
      authenticate(authRequest(bob.email, bob.password), bearer("reader")),
    ]);
    expect(answered(auth)).toMatchObject({ ok: true, decision: "AUTH_DECISION_OK" });
    for (const denied of [list, reader]) {
      expect(denied.exit).toBe(exitFor.permissionDenied);
      expect(denied.error).toMatchObject({ code: "permission_denied", reason: "INSUFFICIENT_SCOPE" });
    }
    // A user's own access token is no backchannel caller.
    const user = await authenticate(authRequest(bob.email, bob.password), {
      authorization: `Bearer ${await accessToken(w.server.baseUrl, bob.email, bob.password)}`,
    });
    expect([user.exit, user.error?.code, user.error?.reason]).toEqual([exitFor.permissionDenied, "permission_denied", "PERMISSION_DENIED"]);
  });

  it("UNAUTHENTICATED without credentials, with a wrong Basic password or a malformed token: an error, never a decision", async () => {
    const body = authRequest(alice.email, alice.password);
    const wrongBasic = `Basic ${Buffer.from(`backchannel:${BACKCHANNEL_PASSWORD}x`).toString("base64")}`;
    const [none, wrong, garbage] = await Promise.all([
      authenticate(body, {}),
      authenticate(body, { authorization: wrongBasic }),
      authenticate(body, { authorization: "Bearer not-a-token" }),
    ]);
    expect([none.exit, none.error?.code, none.error?.reason]).toEqual([exitFor.unauthenticated, "unauthenticated", "UNAUTHENTICATED"]);
    expect([wrong.exit, wrong.error?.code, wrong.error?.reason]).toEqual([exitFor.unauthenticated, "unauthenticated", "INVALID_CREDENTIALS"]);
    expect([garbage.exit, garbage.error?.code]).toEqual([exitFor.unauthenticated, "unauthenticated"]);
    for (const r of [none, wrong, garbage]) expect(r.stdout).toBe("");
    const noList = await bufCurlGrpc(w.backchannel, LIST_ACCOUNTS, {}, {});
    expect([noList.exit, noList.error?.code]).toEqual([exitFor.unauthenticated, "unauthenticated"]);
  });

  it("Warden's own services are not on the backchannel port, and the Nauthilus service is not on the main port", async () => {
    const main = w.server.baseUrl;
    // buf curl finds no such service by reflection on either side.
    const [login, nauthilus, listed, health] = await Promise.all([
      bufCurlGrpc(w.backchannel, LOGIN, { email: alice.email, password: alice.password }),
      bufCurlGrpc(main, AUTHENTICATE, authRequest(alice.email, alice.password), { authorization: BASIC }),
      bufCurl(["--http2-prior-knowledge", "--list-services", main]),
      // Health on the backchannel knows only its own services.
      bufCurlGrpc(w.backchannel, "grpc.health.v1.Health/Check", { service: "warden.auth.v1.AuthService" }),
    ]);
    expect(login.exit).not.toBe(0);
    expect(login.stderr).toContain('failed to find service named "warden.auth.v1.AuthService"');
    expect(nauthilus.exit).not.toBe(0);
    expect(nauthilus.stderr).toContain('failed to find service named "nauthilus.auth.v1.AuthService"');
    const mainServices = listed.stdout.trim().split("\n");
    expect(mainServices).toEqual(expect.arrayContaining(["warden.auth.v1.AuthService"]));
    expect(mainServices).not.toContain("nauthilus.auth.v1.AuthService");
    expect([health.exit, health.error?.code]).toEqual([exitFor.notFound, "not_found"]);

    // A client with the schema of its own gets UNIMPLEMENTED (gRPC) or 404 (Connect).
    for (const [base, path] of [
      [w.backchannel, `/${LOGIN}`],
      [w.backchannel, `/${REGISTER}`],
      [main, `/${AUTHENTICATE}`],
      [main, `/${LIST_ACCOUNTS}`],
    ] as const) {
      const grpc = await grpcRawHttp2(base, path, grpcFrame(new Uint8Array()), { authorization: BASIC });
      expect([path, grpc.status, grpc.grpcStatus]).toEqual([path, 200, "12"]);
      const connect = await postConnect(base, path.slice(1), {}, { authorization: BASIC });
      expect([path, connect.status]).toEqual([path, 404]);
    }
  });

  it("the server logged every backchannel call, and no password or token", () => {
    const calls = rpcLogLines(w.server, AUTHENTICATE);
    expect(calls.length).toBeGreaterThan(10);
    expect(calls.every((l) => l.peer === "127.0.0.1")).toBe(true);
    expect(new Set(calls.map((l) => l.code))).toEqual(new Set(["ok", "Unauthenticated", "PermissionDenied"]));
    expectCleanLogs(w.server, [STRONG_PASSWORD, BACKCHANNEL_PASSWORD, WRONG(0), WRONG(7), ...Object.values(tokens)]);
  });
});
