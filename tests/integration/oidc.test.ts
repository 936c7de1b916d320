import { Code, type CallOptions } from "@connectrpc/connect";
import { and, asc, eq } from "drizzle-orm";
import { exportSPKI, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { ConnectorService } from "../../gen/warden/connector/v1/connector_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { MembershipService } from "../../gen/warden/org/v1/membership_service_pb.js";
import { MemberRole } from "../../gen/warden/org/v1/organization_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { PolicyLanguage, PolicyOutcome, PolicyService } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { ConfigError, loadConfig } from "../../src/config.js";
import { auditEvents, identities, mfaFactors } from "../../src/db/schema/index.js";
import { googleProvider } from "../../src/domain/oidc/connectors.js";
import { expectError } from "../helpers/expect-error.js";
import { jwtClaims } from "../helpers/jwt.js";
import { newTestKey, signWith, TestOidcProvider } from "../helpers/oidc-provider.js";
import { collectPages } from "../helpers/pages.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

const GOOGLE_CLIENT = "google-web-client";
const GOOGLE_CLIENT_2 = "google-ios-client";
const ACME_CLIENT = "acme-warden";

describe("Google and OIDC sign-in", () => {
  let t: TestApp;
  /** Stands in for Google: the built-in connector is configured to point at it. */
  let google: TestOidcProvider;
  /** A second issuer, added by an admin as connector "acme". */
  let acme: TestOidcProvider;
  let asAdmin: CallOptions;
  let seq = 0;

  const auth = () => t.client(AuthService);
  const googleToken = (claims: Record<string, unknown> = {}) => google.idToken(t.clock, GOOGLE_CLIENT, claims);
  const acmeToken = (claims: Record<string, unknown> = {}) => acme.idToken(t.clock, ACME_CLIENT, claims);
  /** A fresh subject and address per test, so tests do not see each other's accounts. */
  const person = () => {
    seq++;
    return { sub: `sub-${seq}`, email: `person${seq}@example.com` };
  };
  const signUp = async (email: string) => {
    await auth().register({ email, password: STRONG_PASSWORD, displayName: "" });
    const login = await auth().login({ email, password: STRONG_PASSWORD });
    return { id: login.user!.id, as: bearer(login.accessToken) };
  };
  const createConnector = (id: string, provider: TestOidcProvider, clientIds = [ACME_CLIENT]) =>
    t
      .client(ConnectorService)
      .createConnector({ connector: { id, displayName: id, issuerUrl: provider.issuer, jwksUrl: provider.jwksUrl, clientIds } }, asAdmin);
  const auditRows = (eventType: string, outcome: string) =>
    t.app.hooks.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.eventType, eventType), eq(auditEvents.outcome, outcome)))
      .orderBy(asc(auditEvents.sequence));

  beforeAll(async () => {
    [google, acme] = await Promise.all([TestOidcProvider.start("google"), TestOidcProvider.start("acme")]);
    t = await createTestApp({
      access_token_ttl: "2d",
      google_client_ids: `${GOOGLE_CLIENT}, ${GOOGLE_CLIENT_2}`,
      google_issuer: google.issuer,
      google_jwks_url: google.jwksUrl,
    });
    const admin = await auth().login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    asAdmin = bearer(admin.accessToken);
    await createConnector("acme", acme);
  });
  afterAll(async () => {
    await t?.close();
    await Promise.all([google?.stop(), acme?.stop()]);
  });

  describe("VerifyOAuthToken", () => {
    it("creates the user on the first sign-in and finds it again after", async () => {
      const p = person();
      const first = await auth().verifyOAuthToken({ idToken: await googleToken({ ...p, name: "Grace Hopper" }) });
      expect(first.created).toBe(true);
      expect(first.mfaRequired).toBe(false);
      expect(first.user?.email).toBe(p.email);
      expect(first.user?.displayName).toBe("Grace Hopper");
      const session = await t.client(SessionService).validateSession({}, bearer(first.accessToken));
      expect(session.valid).toBe(true);
      expect(session.session?.authMethod).toBe("oidc");

      const again = await auth().verifyOAuthToken({ idToken: await googleToken(p), connectorId: "" });
      expect(again.created).toBe(false);
      expect(again.user?.id).toBe(first.user?.id);
      expect(again.refreshToken).not.toBe("");
      // No password was set: password sign-in for this account fails like any wrong password.
      await expectError(auth().login({ email: p.email, password: STRONG_PASSWORD }), Code.Unauthenticated);
      const success = (await auditRows("auth.oauth_login", "success")).filter((r) => r.actorId === first.user?.id);
      expect(success.map((r) => r.details.via)).toEqual(["created", "identity"]);
      expect(success[0]!.details).toMatchObject({ connector: "google", issuer: google.issuer, subject: p.sub });
    });

    it("finds the account by verified email and links the identity", async () => {
      const p = person();
      const owner = await signUp(p.email);
      const r = await auth().verifyOAuthToken({ idToken: await googleToken({ ...p, email: p.email.toUpperCase() }) });
      expect(r.created).toBe(false);
      expect(r.user?.id).toBe(owner.id);
      const [link] = await t.app.hooks.db.select().from(identities).where(eq(identities.subject, p.sub));
      expect(link).toMatchObject({ issuer: google.issuer, userId: owner.id, email: p.email });
      // Later sign-ins find it by the identity, even after the provider reports a new address.
      const moved = await auth().verifyOAuthToken({ idToken: await googleToken({ sub: p.sub, email: `moved-${p.email}` }) });
      expect(moved.user?.id).toBe(owner.id);
    });

    it("accepts several audiences when the authorized party is ours", async () => {
      const p = person();
      const r = await auth().verifyOAuthToken({ idToken: await googleToken({ ...p, aud: ["other-client", GOOGLE_CLIENT], azp: GOOGLE_CLIENT }) });
      expect(r.user?.email).toBe(p.email);
    });

    it("accepts every configured client id and every allowed algorithm", async () => {
      for (const [i, key] of google.keys.entries()) {
        const p = person();
        const idToken = await google.idToken(t.clock, i % 2 ? GOOGLE_CLIENT_2 : GOOGLE_CLIENT, p, key);
        const r = await auth().verifyOAuthToken({ idToken });
        expect(r.user?.email, key.alg).toBe(p.email);
      }
    });

    it("keeps one cached key set per JWKS URL", async () => {
      const before = google.fetches;
      await auth().verifyOAuthToken({ idToken: await googleToken(person()) });
      await auth().verifyOAuthToken({ idToken: await googleToken(person()) });
      expect(google.fetches).toBe(before);
      expect(before).toBe(1);
    });

    it("makes one account of parallel first sign-ins", async () => {
      const p = person();
      const results = await Promise.all([1, 2, 3, 4].map(async () => auth().verifyOAuthToken({ idToken: await googleToken(p) })));
      expect(new Set(results.map((r) => r.user?.id)).size).toBe(1);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(results.every((r) => r.accessToken)).toBe(true);
    });

    it("signs in through an admin's connector", async () => {
      const p = person();
      const r = await auth().verifyOAuthToken({ idToken: await acmeToken(p), connectorId: "acme" });
      expect(r.created).toBe(true);
      expect(r.user?.email).toBe(p.email);
    });

    describe("refuses tokens that do not verify", () => {
      const cases: [string, () => Promise<string>, string][] = [
        ["another audience", () => google.idToken(t.clock, "someone-elses-client", person()), "OAUTH_TOKEN_WRONG_AUDIENCE"],
        [
          "several audiences, authorized party not ours",
          () => googleToken({ ...person(), aud: [GOOGLE_CLIENT, "other-client"], azp: "other-client" }),
          "OAUTH_TOKEN_WRONG_AUDIENCE",
        ],
        ["another issuer (signed with Google's key)", () => googleToken({ ...person(), iss: "https://evil.example" }), "OAUTH_TOKEN_WRONG_ISSUER"],
        ["another connector's issuer", () => acme.idToken(t.clock, GOOGLE_CLIENT, person()), "OAUTH_TOKEN_INVALID"],
        ["expired", () => googleToken({ ...person(), iat: nowS(t) - 7200, exp: nowS(t) - 3600 }), "OAUTH_TOKEN_EXPIRED"],
        ["not valid yet", () => googleToken({ ...person(), nbf: nowS(t) + 600 }), "OAUTH_TOKEN_NOT_YET_VALID"],
        ["issued in the future", () => googleToken({ ...person(), iat: nowS(t) + 600 }), "OAUTH_TOKEN_NOT_YET_VALID"],
        ["issued too long ago", () => googleToken({ ...person(), iat: nowS(t) - 3 * 86400 }), "OAUTH_TOKEN_EXPIRED"],
        ["email not verified", () => googleToken({ ...person(), email_verified: false }), "OAUTH_EMAIL_NOT_VERIFIED"],
        ["email_verified absent", () => googleToken({ ...person(), email_verified: undefined }), "OAUTH_EMAIL_NOT_VERIFIED"],
        // A truthiness check would take these for verified.
        ['email_verified the string "false"', () => googleToken({ ...person(), email_verified: "false" }), "OAUTH_EMAIL_NOT_VERIFIED"],
        ["email_verified the number 1", () => googleToken({ ...person(), email_verified: 1 }), "OAUTH_EMAIL_NOT_VERIFIED"],
        ["email_verified an object", () => googleToken({ ...person(), email_verified: {} }), "OAUTH_EMAIL_NOT_VERIFIED"],
        ["no email", () => googleToken({ sub: "no-email", email: undefined }), "OAUTH_EMAIL_MISSING"],
        ["no subject", () => googleToken({ sub: undefined }), "OAUTH_TOKEN_INVALID"],
        [
          "alg none",
          () =>
            Promise.resolve(
              new UnsecuredJWT({ iss: google.issuer, aud: GOOGLE_CLIENT, ...person(), email_verified: true, iat: nowS(t), exp: nowS(t) + 60 }).encode(),
            ),
          "OAUTH_TOKEN_INVALID",
        ],
        ["HS256 keyed with the provider's public key", () => hs256WithPublicKey(t, google), "OAUTH_TOKEN_INVALID"],
        ["a kid the provider never published", () => unpublishedKeyToken(t, google), "OAUTH_TOKEN_INVALID"],
        [
          "a jku header naming the attacker's keys",
          () =>
            signWith({ iss: google.issuer, aud: GOOGLE_CLIENT, ...person(), email_verified: true, iat: nowS(t), exp: nowS(t) + 60 }, google.keys[0]!, {
              jku: "https://evil.example/jwks",
            }),
          "OAUTH_TOKEN_INVALID",
        ],
        ["a tampered signature", async () => tamperSignature(await googleToken(person())), "OAUTH_TOKEN_INVALID"],
        ["a tampered payload", async () => tamperPayload(await googleToken(person())), "OAUTH_TOKEN_INVALID"],
        ["garbage", () => Promise.resolve("not-a-jwt"), "OAUTH_TOKEN_INVALID"],
        ["three garbage segments", () => Promise.resolve("a.b.c"), "OAUTH_TOKEN_INVALID"],
        ["JSON that is not an object", () => Promise.resolve(`${b64('"x"')}.${b64("[]")}.AAAA`), "OAUTH_TOKEN_INVALID"],
        ["oversized", () => Promise.resolve("e".repeat(20_000)), "OAUTH_TOKEN_INVALID"],
      ];
      it.each(cases)("%s -> UNAUTHENTICATED", async (_name, make, reason) => {
        const failuresBefore = (await auditRows("auth.oauth_login", "failure")).length;
        await expectError(auth().verifyOAuthToken({ idToken: await make() }), Code.Unauthenticated, reason);
        const failures = await auditRows("auth.oauth_login", "failure");
        expect(failures.length).toBe(failuresBefore + 1);
        expect(failures.at(-1)!.details.reason).toBe(reason);
      });

      it("an empty token -> INVALID_ARGUMENT", async () => {
        await expectError(auth().verifyOAuthToken({ idToken: "" }), Code.InvalidArgument, "INVALID_ARGUMENT");
      });

      it("a token that expires once the clock moves on", async () => {
        const idToken = await googleToken(person());
        t.clock.advance(3600 + 60);
        await expectError(auth().verifyOAuthToken({ idToken }), Code.Unauthenticated, "OAUTH_TOKEN_EXPIRED");
      });
    });

    it("unknown connector -> NOT_FOUND", async () => {
      await expectError(auth().verifyOAuthToken({ idToken: await acmeToken(person()), connectorId: "nope" }), Code.NotFound, "CONNECTOR_NOT_FOUND");
    });

    it("fails closed when the provider's key set cannot be fetched", async () => {
      const down = await TestOidcProvider.start("down");
      await createConnector("down", down);
      const idToken = await down.idToken(t.clock, ACME_CLIENT, person());
      down.failWith = 500;
      await expectError(auth().verifyOAuthToken({ idToken, connectorId: "down" }), Code.Unavailable, "OAUTH_JWKS_UNAVAILABLE");
      await down.stop();
      await expectError(auth().verifyOAuthToken({ idToken, connectorId: "down" }), Code.Unavailable, "OAUTH_JWKS_UNAVAILABLE");
      const last = (await auditRows("auth.oauth_login", "failure")).at(-1)!;
      expect(last.details).toMatchObject({ reason: "OAUTH_JWKS_UNAVAILABLE", connector: "down" });
    });

    it("gives a disabled user no token and links nothing to it", async () => {
      const p = person();
      const first = await auth().verifyOAuthToken({ idToken: await googleToken(p) });
      await t.client(UserService).disableUser({ id: first.user!.id }, asAdmin);
      await expectError(auth().verifyOAuthToken({ idToken: await googleToken(p) }), Code.Unauthenticated, "USER_DISABLED");

      const q = person();
      const owner = await signUp(q.email);
      await t.client(UserService).disableUser({ id: owner.id }, asAdmin);
      await expectError(auth().verifyOAuthToken({ idToken: await googleToken(q) }), Code.Unauthenticated);
      expect(await t.app.hooks.db.select().from(identities).where(eq(identities.subject, q.sub))).toEqual([]);
      const last = (await auditRows("auth.oauth_login", "failure")).at(-1)!;
      expect(last).toMatchObject({ actorId: owner.id, details: { reason: "USER_DISABLED" } });
    });

    it("frees the identity of a deleted account", async () => {
      const p = person();
      const first = await auth().verifyOAuthToken({ idToken: await googleToken(p) });
      await t.client(UserService).deleteUser({ id: first.user!.id }, asAdmin);
      const again = await auth().verifyOAuthToken({ idToken: await googleToken(p) });
      expect(again.created).toBe(true);
      expect(again.user?.id).not.toBe(first.user?.id);
    });

    it("answers with an MFA challenge for a user with a confirmed TOTP factor", async () => {
      const p = person();
      const first = await auth().verifyOAuthToken({ idToken: await googleToken(p) });
      const now = t.clock.now();
      // A confirmed factor row, as ConfirmTotp leaves it (the secret is never read here).
      await t.app.hooks.db
        .insert(mfaFactors)
        .values({ userId: first.user!.id, type: "totp", secretEncrypted: "sealed-test-secret", confirmedAt: now, createdAt: now });
      const r = await auth().verifyOAuthToken({ idToken: await googleToken(p) });
      expect(r).toMatchObject({ mfaRequired: true, created: false, accessToken: "", refreshToken: "", sessionId: "" });
      expect(r.challengeId).toMatch(/^mfa_/);
      expect(r.user?.id).toBe(first.user?.id);
    });
  });

  it("an organization's access policy decides federated sign-ins too (amr fed)", async () => {
    const p = person();
    const owner = await signUp(`owner-${p.email}`);
    const first = await auth().verifyOAuthToken({ idToken: await googleToken(p) });
    const { organization } = await t.client(OrganizationService).createOrganization({ name: "federated" }, owner.as);
    await t.client(MembershipService).addMember({ organizationId: organization!.id, userId: first.user!.id, role: MemberRole.MEMBER }, owner.as);
    await t.client(MembershipService).acceptMembership({ organizationId: organization!.id }, bearer(first.accessToken));
    await t.client(PolicyService).createPolicy(
      {
        policy: {
          organizationId: organization!.id,
          name: "no federated members",
          language: PolicyLanguage.CEL,
          source: `"fed" in session.auth_methods && user.org_role == "member"`,
          outcome: PolicyOutcome.DENY,
          enabled: true,
        },
      },
      owner.as,
    );
    await expectError(auth().verifyOAuthToken({ idToken: await googleToken(p) }), Code.PermissionDenied, "POLICY_DENIED");
  });

  describe("LinkIdentity", () => {
    it("links another provider's identity to the signed-in user, once", async () => {
      const user = await signUp(person().email);
      const other = person();
      const idToken = await acmeToken(other);
      const linked = await auth().linkIdentity({ idToken, connectorId: "acme" }, user.as);
      expect(linked).toMatchObject({ issuer: acme.issuer, subject: other.sub });
      // Linking it again is a no-op; signing in with it reaches this user, whatever its email.
      await auth().linkIdentity({ idToken, connectorId: "acme" }, user.as);
      const r = await auth().verifyOAuthToken({ idToken: await acmeToken(other), connectorId: "acme" });
      expect(r).toMatchObject({ created: false, user: { id: user.id } });
      expect((await auditRows("auth.link_identity", "success")).filter((e) => e.actorId === user.id)).toHaveLength(2);
    });

    it("refuses an identity linked to someone else", async () => {
      const p = person();
      await auth().verifyOAuthToken({ idToken: await googleToken(p) });
      const intruder = await signUp(person().email);
      await expectError(auth().linkIdentity({ idToken: await googleToken(p) }, intruder.as), Code.AlreadyExists, "IDENTITY_LINKED_ELSEWHERE");
      const last = (await auditRows("auth.link_identity", "failure")).at(-1)!;
      expect(last).toMatchObject({ actorId: intruder.id, details: { reason: "IDENTITY_LINKED_ELSEWHERE", subject: p.sub } });
    });

    it("needs a signed-in caller and a valid token", async () => {
      const idToken = await acmeToken(person());
      await expectError(auth().linkIdentity({ idToken, connectorId: "acme" }), Code.Unauthenticated);
      const user = await signUp(person().email);
      await expectError(auth().linkIdentity({ idToken: tamperSignature(idToken), connectorId: "acme" }, user.as), Code.Unauthenticated, "OAUTH_TOKEN_INVALID");
    });
  });

  describe("ConnectorService", () => {
    const connectors = () => t.client(ConnectorService);
    const valid = { id: "valid", displayName: "Valid", issuerUrl: "https://id.example.com", jwksUrl: "https://id.example.com/keys", clientIds: ["warden"] };

    it("is for system administrators only", async () => {
      const user = await signUp(person().email);
      for (const call of [
        () => connectors().listConnectors({}, user.as),
        () => connectors().createConnector({ connector: valid }, user.as),
        () => connectors().deleteConnector({ id: "acme" }, user.as),
      ]) {
        await expectError(call(), Code.PermissionDenied, "PERMISSION_REQUIRED");
      }
      await expectError(connectors().listConnectors({}), Code.Unauthenticated);
    });

    it.each([
      ["id not a slug", { id: "Bad Id" }],
      ["reserved id", { id: "google" }],
      ["issuer over plain http", { issuerUrl: "http://id.example.com" }],
      ["JWKS over plain http", { jwksUrl: "http://id.example.com/keys" }],
      ["issuer not a URL", { issuerUrl: "id.example.com" }],
      ["JWKS with credentials", { jwksUrl: "https://user:pw@id.example.com/keys" }],
      ["issuer with a fragment", { issuerUrl: "https://id.example.com/#x" }],
      ["non-http scheme", { jwksUrl: "file:///etc/passwd" }],
      ["no client ids", { clientIds: [] }],
      ["blank client id", { clientIds: [" "] }],
    ])("CreateConnector refuses %s", async (_name, change) => {
      await expectError(connectors().createConnector({ connector: { ...valid, ...change } }, asAdmin), Code.InvalidArgument);
    });

    it("creates, lists page by page, and deletes", async () => {
      const created = await connectors().createConnector({ connector: { ...valid, id: "page-0", clientIds: ["a", "a", "b"] } }, asAdmin);
      expect(created.connector).toMatchObject({ id: "page-0", issuerUrl: valid.issuerUrl, clientIds: ["a", "b"] });
      for (let i = 1; i < 5; i++)
        await connectors().createConnector({ connector: { ...valid, id: `page-${i}`, issuerUrl: `https://id${i}.example.com`, displayName: "" } }, asAdmin);
      await expectError(
        connectors().createConnector({ connector: { ...valid, id: "page-0", issuerUrl: "https://other.example.com" } }, asAdmin),
        Code.AlreadyExists,
        "CONNECTOR_EXISTS",
      );
      await expectError(connectors().createConnector({ connector: { ...valid, id: "same-issuer" } }, asAdmin), Code.AlreadyExists, "CONNECTOR_ISSUER_EXISTS");
      await expectError(connectors().createConnector({}, asAdmin), Code.InvalidArgument);

      const { ids: seen } = await collectPages(
        async (pageToken) => {
          const page = await connectors().listConnectors({ pageSize: 2, pageToken }, asAdmin);
          return { items: page.connectors, nextPageToken: page.nextPageToken };
        },
        (c) => c.id,
        2,
      );
      expect(seen).toEqual(expect.arrayContaining(["acme", "page-0", "page-1", "page-2", "page-3", "page-4"]));
      const all = await connectors().listConnectors({}, asAdmin);
      expect(all.connectors.map((c) => c.id)).toEqual(seen);
      expect(all.connectors.find((c) => c.id === "page-1")?.displayName).toBe("page-1");
      await expectError(connectors().listConnectors({ pageToken: "garbage!" }, asAdmin), Code.InvalidArgument);

      await connectors().deleteConnector({ id: "page-0" }, asAdmin);
      await expectError(connectors().deleteConnector({ id: "page-0" }, asAdmin), Code.NotFound, "CONNECTOR_NOT_FOUND");
      expect((await connectors().listConnectors({}, asAdmin)).connectors.map((c) => c.id)).not.toContain("page-0");
      expect((await auditRows("connector.delete", "success")).at(-1)?.targetId).toBe("page-0");
    });

    it("a deleted connector signs nobody in", async () => {
      const shortLived = await TestOidcProvider.start("short");
      await createConnector("short-lived", shortLived);
      const idToken = await shortLived.idToken(t.clock, ACME_CLIENT, person());
      await auth().verifyOAuthToken({ idToken, connectorId: "short-lived" });
      await connectors().deleteConnector({ id: "short-lived" }, asAdmin);
      await expectError(auth().verifyOAuthToken({ idToken, connectorId: "short-lived" }), Code.NotFound, "CONNECTOR_NOT_FOUND");
      await shortLived.stop();
    });
  });
});

describe("Google sign-in configuration", () => {
  it("is off without client ids", async () => {
    const t = await createTestApp();
    try {
      await expectError(t.client(AuthService).verifyOAuthToken({ idToken: "x.y.z" }), Code.FailedPrecondition, "GOOGLE_NOT_CONFIGURED");
    } finally {
      await t.close();
    }
  });

  it("reads WARDEN_GOOGLE_* and accepts Google's host-only issuer", () => {
    const config = loadConfig({ WARDEN_GOOGLE_CLIENT_IDS: " a.apps.googleusercontent.com , b ,", WARDEN_MASTER_KEY: "k".repeat(32) });
    expect(config.google_client_ids).toEqual(["a.apps.googleusercontent.com", "b"]);
    const provider = googleProvider({ clientIds: config.google_client_ids, issuer: config.google_issuer, jwksUrl: config.google_jwks_url });
    expect(provider?.acceptedIssuers).toEqual(["https://accounts.google.com", "accounts.google.com"]);
    expect(provider?.jwksUrl).toBe("https://www.googleapis.com/oauth2/v3/certs");
    expect(() => loadConfig({ WARDEN_GOOGLE_JWKS_URL: "http://keys.example.com/certs" })).toThrow(ConfigError);
    expect(() => loadConfig({ WARDEN_GOOGLE_ISSUER: "not a url" })).toThrow(/google_issuer \(WARDEN_GOOGLE_ISSUER\)/);
  });
});

function nowS(t: TestApp): number {
  return Math.floor(t.clock.now().getTime() / 1000);
}

function b64(s: string): string {
  return Buffer.from(s).toString("base64url");
}

/** The classic confusion attack: HMAC keyed with the RSA public key a naive verifier would use. */
async function hs256WithPublicKey(t: TestApp, provider: TestOidcProvider): Promise<string> {
  const key = provider.keys[0]!;
  const secret = new TextEncoder().encode(await exportSPKI(key.publicKey));
  return new SignJWT({ iss: provider.issuer, aud: GOOGLE_CLIENT, sub: "hs", email: "hs@example.com", email_verified: true })
    .setProtectedHeader({ alg: "HS256", kid: key.kid })
    .setIssuedAt(nowS(t))
    .setExpirationTime(nowS(t) + 60)
    .sign(secret);
}

async function unpublishedKeyToken(t: TestApp, provider: TestOidcProvider): Promise<string> {
  const stranger = await newTestKey("RS256", "never-published");
  return provider.idToken(t.clock, GOOGLE_CLIENT, { sub: "stranger", email: "stranger@example.com" }, stranger);
}

function tamperSignature(jwt: string): string {
  const [h, p, s] = jwt.split(".");
  const flipped = s!.startsWith("A") ? `B${s!.slice(1)}` : `A${s!.slice(1)}`;
  return `${h}.${p}.${flipped}`;
}

function tamperPayload(jwt: string): string {
  const [h, , s] = jwt.split(".");
  return `${h}.${b64(JSON.stringify({ ...jwtClaims(jwt), email: "admin@warden.test" }))}.${s}`;
}
