import { Code, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { AuthDecision, AuthService as NauthilusAuth, type AuthResponse } from "../../gen/nauthilus/auth/v1/auth_pb.js";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { AuditService, Outcome } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { startBackchannel, type RunningServer } from "../../src/server.js";
import { expectError, reasonOf, errorOf } from "../helpers/expect-error.js";
import { createTestApp, hashesDone, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { World, type Caller } from "../helpers/tenancy-world.js";

const BASIC_USER = "dovecot";
const BASIC_PASSWORD = "dovecot-backchannel-secret-42";
const MAX_FAILURES = 3;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const basic = (user = BASIC_USER, password = BASIC_PASSWORD) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

/** A gRPC client of the backchannel listener that sends `headers` (authorization, accept-language) with every call. */
function backchannelClient(
  server: RunningServer,
  headers: Record<string, string> = { authorization: basic() },
  seen?: (h: Headers) => void,
): Client<typeof NauthilusAuth> {
  const send: Interceptor = (next) => async (req) => {
    for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
    const res = await next(req);
    seen?.(res.header);
    return res;
  };
  return createClient(NauthilusAuth, createGrpcTransport({ baseUrl: server.url, interceptors: [send] }));
}

/** A served app with the backchannel on a free loopback port. */
function useBackchannel(overrides: Record<string, unknown> = {}, opts: { closesDatabase?: boolean } = {}) {
  const state: { t?: TestApp; server?: RunningServer; world?: World } = {};
  beforeAll(async () => {
    state.t = await createTestApp(
      {
        backchannel_basic_auth_enabled: true,
        backchannel_basic_auth_username: BASIC_USER,
        backchannel_basic_auth_password: BASIC_PASSWORD,
        login_max_failures: MAX_FAILURES,
        access_token_ttl: "2d",
        ...overrides,
      },
      { countHashes: true },
    );
    state.server = await startBackchannel(state.t.app, "127.0.0.1:0");
    state.world = new World(state.t);
  });
  afterAll(async () => {
    await state.server?.drain(200);
    // A test that closed the database on purpose leaves nothing more to close there.
    await state.t?.close().catch((err: Error) => {
      if (!opts.closesDatabase) throw err;
    });
  });
  return state as Required<typeof state>;
}

const request = (username: string, password: string, clientIp = "203.0.113.7") => ({
  username,
  password,
  clientIp,
  clientPort: "54321",
  protocol: "imap",
  method: "plain",
});

describe("nauthilus.auth.v1.AuthService/Authenticate: decisions on Warden's users", () => {
  const s = useBackchannel();
  let ann: Caller;
  beforeAll(async () => {
    ann = await s.world.user("ann");
  });

  it("a good password: OK with the account, its attributes, a fresh session id and Warden's backend", async () => {
    const r = await backchannelClient(s.server).authenticate(request("Ann@Tenancy.test", STRONG_PASSWORD));
    expect([r.ok, r.decision, r.accountField, r.backend, r.totpSecretField, r.error]).toEqual([true, AuthDecision.OK, "account", 100, "", ""]);
    expect(r.session).toMatch(UUID);
    expect(r.attributes.account?.values).toEqual([ann.email]);
    expect(r.attributes.mail?.values).toEqual([ann.email]);
    expect(r.attributes.uid?.values).toEqual([ann.id]);
    expect(r.attributes.displayName?.values).toEqual(["ann"]);
    expect(r.statusMessage).toBe("Authentication succeeded");
    const again = await backchannelClient(s.server).authenticate(request(ann.email, STRONG_PASSWORD));
    expect(again.session).not.toBe(r.session);
  });

  it("a wrong password and an unknown account: the same FAIL, in the answer (not an error)", async () => {
    const wrong = await backchannelClient(s.server).authenticate(request(ann.email, "not-the-password-1", "203.0.113.20"));
    const unknown = await backchannelClient(s.server).authenticate(request("nobody@tenancy.test", "not-the-password-1", "203.0.113.20"));
    for (const r of [wrong, unknown]) {
      expect([r.ok, r.decision, r.statusMessage]).toEqual([false, AuthDecision.FAIL, "Invalid login or password"]);
      expect(r.attributes).toEqual({});
    }
    const empty = await backchannelClient(s.server).authenticate({ ...request(ann.email, ""), clientIp: "203.0.113.20" });
    expect(empty.decision).toBe(AuthDecision.FAIL);
  });

  it("a misconfigured client repeating one wrong password counts once; different wrong passwords reach the limit, then FAIL without hashing", async () => {
    const bob = await s.world.user("bob");
    const client = backchannelClient(s.server);
    const ip = "198.51.100.9";
    for (let i = 0; i < 3 * MAX_FAILURES; i++)
      expect((await client.authenticate(request(bob.email, "old-password-of-bob", ip))).decision).toBe(AuthDecision.FAIL);
    // Still not locked out: the owner's right password works from that client.
    expect((await client.authenticate(request(bob.email, STRONG_PASSWORD, ip))).decision).toBe(AuthDecision.OK);
    for (let i = 0; i < MAX_FAILURES; i++) expect((await client.authenticate(request(bob.email, `wrong-guess-${i}-x`, ip))).decision).toBe(AuthDecision.FAIL);
    const before = hashesDone(s.t.hashes);
    const refused = await client.authenticate(request(bob.email, STRONG_PASSWORD, ip));
    expect([refused.ok, refused.decision, refused.statusMessage]).toEqual([false, AuthDecision.FAIL, "Too many failed login attempts; try again later"]);
    expect(hashesDone(s.t.hashes)).toBe(before);
    // Another client address of the same account is not held by this one's failures.
    expect((await client.authenticate(request(bob.email, STRONG_PASSWORD, "198.51.100.10"))).decision).toBe(AuthDecision.OK);
  });

  it("a login alias signs in like the email (case-insensitive); an unknown alias fails like an unknown email", async () => {
    const erin = await s.world.user("erin");
    const users = s.t.client(UserService);
    expect((await users.setLoginAlias({ loginAlias: "Erin.Mail" }, erin.as)).user?.loginAlias).toBe("erin.mail");
    const r = await backchannelClient(s.server).authenticate(request("ERIN.MAIL", STRONG_PASSWORD));
    expect([r.decision, r.attributes.account?.values, r.attributes.loginAlias?.values]).toEqual([AuthDecision.OK, [erin.email], ["erin.mail"]]);
    expect((await backchannelClient(s.server).authenticate(request("nobody.mail", STRONG_PASSWORD))).decision).toBe(AuthDecision.FAIL);
    // Unique across users; an admin may set one through UpdateUser; "@" is never part of an alias.
    const fred = await s.world.user("fred");
    const taken = await errorOf(users.setLoginAlias({ loginAlias: "erin.mail" }, fred.as));
    expect([taken?.code, reasonOf(taken!)]).toEqual([Code.AlreadyExists, "LOGIN_ALIAS_TAKEN"]);
    await expectError(users.setLoginAlias({ loginAlias: "fred@mail" }, fred.as), Code.InvalidArgument);
    const admin = await s.world.admin();
    expect((await users.updateUser({ id: fred.id, loginAlias: "fred-m" }, admin.as)).user?.loginAlias).toBe("fred-m");
    expect((await backchannelClient(s.server).authenticate(request("fred-m", STRONG_PASSWORD))).decision).toBe(AuthDecision.OK);
    // Removing it: the alias signs in no more.
    await users.setLoginAlias({ loginAlias: "" }, erin.as);
    expect((await backchannelClient(s.server).authenticate(request("erin.mail", STRONG_PASSWORD, "203.0.113.40"))).decision).toBe(AuthDecision.FAIL);
  });

  it("a disabled user fails", async () => {
    const carl = await s.world.user("carl");
    const admin = await s.world.admin();
    await s.t.client(UserService).disableUser({ id: carl.id }, admin.as);
    expect((await backchannelClient(s.server).authenticate(request(carl.email, STRONG_PASSWORD))).decision).toBe(AuthDecision.FAIL);
  });

  it("a member of an organization that requires a second factor fails with a reason, and the decision is audited", async () => {
    const dora = await s.world.user("dora");
    const org = await s.world.org(dora);
    await s.t.client(OrganizationService).updateOrganization({ id: org.id, name: "", requireMfa: true }, dora.as);
    const r = await backchannelClient(s.server, { authorization: basic(), "accept-language": "fr" }).authenticate(request(dora.email, STRONG_PASSWORD));
    expect([r.ok, r.decision]).toEqual([false, AuthDecision.FAIL]);
    expect(r.statusMessage).toContain("second facteur");
    const admin = await s.world.admin();
    const events = await s.t.client(AuditService).queryAuditEvents({ eventTypes: ["auth.backchannel"], actorId: dora.id }, admin.as);
    expect(events.events.map((e) => [e.outcome, e.details.reason, e.requestId])).toContainEqual([Outcome.FAILURE, "mfa_required", r.session]);
  });

  it("status messages follow accept-language (en, de, fr) and say which in content-language", async () => {
    const cases: [string | undefined, string, string][] = [
      ["de-DE,de;q=0.9", "de", "Ungültiger Benutzername oder ungültiges Passwort"],
      ["es, fr;q=0.5, de;q=0.4", "fr", "Identifiant ou mot de passe incorrect"],
      ["es", "en", "Invalid login or password"],
      [undefined, "en", "Invalid login or password"],
    ];
    for (const [accept, language, text] of cases) {
      let contentLanguage: string | null = null;
      const headers: Record<string, string> = { authorization: basic(), ...(accept ? { "accept-language": accept } : {}) };
      const r = await backchannelClient(s.server, headers, (h) => (contentLanguage = h.get("content-language"))).authenticate(
        request("nobody@tenancy.test", "not-the-password-2", "203.0.113.30"),
      );
      expect([r.statusMessage, contentLanguage], String(accept)).toEqual([text, language]);
    }
  });
});

describe("callers that fail to authenticate", () => {
  const s = useBackchannel({ rate_class_budgets: "backchannel_caller=5" });

  it("no credential, a wrong Basic password or a user's access token: transport errors, and the caller address is limited", async () => {
    const ann = await s.world.user("ann");
    const good = request(ann.email, STRONG_PASSWORD);
    await expectError(backchannelClient(s.server, {}).authenticate(good), Code.Unauthenticated);
    await expectError(backchannelClient(s.server, { authorization: basic(BASIC_USER, "wrong-basic-password-123") }).authenticate(good), Code.Unauthenticated);
    await expectError(backchannelClient(s.server, { authorization: `Bearer ${ann.token}` }).authenticate(good), Code.PermissionDenied);
    // The budget of the caller's address: more wrong credentials are refused before they are checked.
    let limited: unknown;
    for (let i = 0; i < 6 && !limited; i++) {
      const err = await errorOf(backchannelClient(s.server, { authorization: basic(BASIC_USER, `wrong-${i}-0123456789abc`) }).authenticate(good));
      if (err?.code === Code.ResourceExhausted) limited = err;
    }
    expect(limited && reasonOf(limited as never)).toBe("RATE_LIMITED");
  });
});

describe("who may call the backchannel", () => {
  const s = useBackchannel();

  it("service accounts: the backchannel scope for Authenticate, the list-accounts scope for ListAccounts (its organization's members only)", async () => {
    const owner = await s.world.user("owner");
    const member = await s.world.user("member");
    await s.world.user("outsider");
    const org = await s.world.org(owner);
    await s.world.join(org.id, owner, member, "member");
    const issue = async (scopes: ApiKeyScope[]) => {
      const created = await s.world.sas.createServiceAccount({ organizationId: org.id, name: s.world.name("mail"), scopes }, owner.as);
      const { accessToken } = await s.world.sas.authenticateServiceAccount({ clientId: created.serviceAccount!.clientId, clientSecret: created.clientSecret });
      return { authorization: `Bearer ${accessToken}` };
    };
    const authOnly = await issue([ApiKeyScope.BACKCHANNEL]);
    const both = await issue([ApiKeyScope.BACKCHANNEL, ApiKeyScope.BACKCHANNEL_LIST_ACCOUNTS]);
    const readOnly = await issue([ApiKeyScope.ADMIN]);
    expect((await backchannelClient(s.server, authOnly).authenticate(request(member.email, STRONG_PASSWORD))).decision).toBe(AuthDecision.OK);
    // Outside its organization a service account learns nothing: the right password fails like a wrong one.
    const outsider = await backchannelClient(s.server, authOnly).authenticate(request("outsider@tenancy.test", STRONG_PASSWORD));
    expect([outsider.ok, outsider.decision, outsider.attributes]).toEqual([false, AuthDecision.FAIL, {}]);
    const denied = await errorOf(backchannelClient(s.server, authOnly).listAccounts({}));
    expect([denied?.code, reasonOf(denied!)]).toEqual([Code.PermissionDenied, "INSUFFICIENT_SCOPE"]);
    // admin does not include the backchannel scopes.
    await expectError(backchannelClient(s.server, readOnly).authenticate(request(member.email, STRONG_PASSWORD)), Code.PermissionDenied);
    const listed = await backchannelClient(s.server, both).listAccounts({ protocol: "imap" });
    expect(listed.accounts.sort()).toEqual([owner.email, member.email].sort());
    expect(listed.session).toMatch(UUID);
    // The installation's Basic caller sees every active account.
    const all = await backchannelClient(s.server).listAccounts({});
    expect(all.accounts).toEqual(expect.arrayContaining([owner.email, member.email, "outsider@tenancy.test"]));
    const admin = await s.world.admin();
    const audited = await s.t.client(AuditService).queryAuditEvents({ eventTypes: ["backchannel.list_accounts"] }, admin.as);
    expect(audited.events.map((e) => e.details.accounts)).toEqual(expect.arrayContaining(["2", String(all.accounts.length)]));
  });

  it("API keys cannot hold the backchannel scopes", async () => {
    const owner = await s.world.user("keyowner");
    const org = await s.world.org(owner);
    await expectError(s.world.keys.createApiKey({ organizationId: org.id, name: "mail", scopes: [ApiKeyScope.BACKCHANNEL] }, owner.as), Code.InvalidArgument);
  });
});

describe("faults answer TEMPFAIL, never OK or FAIL", () => {
  const s = useBackchannel({}, { closesDatabase: true });

  it("with the database gone, Authenticate answers TEMPFAIL with a reason, and health says not serving", async () => {
    const ann = await s.world.user("ann");
    expect((await backchannelClient(s.server).authenticate(request(ann.email, STRONG_PASSWORD))).decision).toBe(AuthDecision.OK);
    await s.t.testDb.database.close();
    const r: AuthResponse = await backchannelClient(s.server).authenticate(request(ann.email, STRONG_PASSWORD));
    expect([r.ok, r.decision, r.statusMessage]).toEqual([false, AuthDecision.TEMPFAIL, "Authentication is temporarily unavailable; try again later"]);
    expect(r.error).toMatch(/^temporary failure/);
    const wrong = await backchannelClient(s.server).authenticate(request(ann.email, "not-the-password-9"));
    expect(wrong.decision).toBe(AuthDecision.TEMPFAIL);
    const health = createClient(Health, createGrpcTransport({ baseUrl: s.server.url }));
    expect((await health.check({ service: "nauthilus.auth.v1.AuthService" })).status).toBe(ServingStatus.NOT_SERVING);
  });
});
