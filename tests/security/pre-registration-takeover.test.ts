import { Code } from "@connectrpc/connect";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope, ApiKeyService } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { PasskeyService } from "../../gen/warden/passkey/v1/passkey_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { auditEvents } from "../../src/db/schema/index.js";
import { expectError } from "../helpers/expect-error.js";
import { addTotp, signUp } from "../helpers/mfa-world.js";
import { TestOidcProvider } from "../helpers/oidc-provider.js";
import { SoftAuthenticator } from "../helpers/soft-authenticator.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const CLIENT = "takeover-web-client";

/**
 * The attack: someone registers the victim's address first (Register never proved they own it),
 * sets up every credential they can, and waits for the victim to sign in with Google. Federated
 * sign-in must not hand the attacker a standing way into the account the victim then uses.
 */
describe("pre-registration account takeover", () => {
  let t: TestApp;
  let google: TestOidcProvider;
  let seq = 0;
  const googleSignIn = (email: string) => {
    seq++;
    return google.idToken(t.clock, CLIENT, { sub: `victim-${seq}`, email }).then((idToken) => t.client(AuthService).verifyOAuthToken({ idToken }));
  };

  beforeAll(async () => {
    google = await TestOidcProvider.start("google");
    t = await createTestApp({ google_client_ids: CLIENT, google_issuer: google.issuer, google_jwks_url: google.jwksUrl });
  });
  afterAll(async () => {
    await t?.close();
    await google?.stop();
  });

  it("the victim's Google sign-in claims the unverified account: the attacker's password, factors, passkeys, sessions and keys stop working", async () => {
    // The attacker registers the victim's address and arms the account.
    const attacker = await addTotp(t, await signUp(t, "victim"));
    const mfaProof = await t.client(AuthService).login({ email: attacker.email, password: STRONG_PASSWORD });
    expect(mfaProof.mfaRequired).toBe(true);
    const passkeyStart = await t.client(PasskeyService).startPasskeyRegistration({ name: "attacker" }, attacker.h);
    const attackerKey = new SoftAuthenticator();
    await t
      .client(PasskeyService)
      .completePasskeyRegistration({ challengeId: passkeyStart.challengeId, responseJson: attackerKey.register(passkeyStart.optionsJson) }, attacker.h);
    const org = (await t.client(OrganizationService).createOrganization({ name: "Attacker's" }, attacker.h)).organization!;
    const apiKey = await t.client(ApiKeyService).createApiKey({ organizationId: org.id, name: "backdoor", scopes: [ApiKeyScope.READ] }, attacker.h);

    // The victim signs in with Google for the first time.
    const victim = await googleSignIn(attacker.email);
    expect(victim.created).toBe(false);
    // The attacker's TOTP does not stand between the victim and their account.
    expect(victim.mfaRequired).toBe(false);
    expect(victim.user?.emailVerified).toBe(true);
    expect(victim.user?.id).toBe(attacker.userId);

    // Nothing the attacker set up works any more.
    await expectError(t.client(AuthService).login({ email: attacker.email, password: STRONG_PASSWORD }), Code.Unauthenticated, "INVALID_CREDENTIALS");
    await expectError(t.client(SessionService).validateSession({}, attacker.h), Code.Unauthenticated, "SESSION_REVOKED");
    await expectError(t.client(AuthService).refresh({ refreshToken: attacker.refreshToken }), Code.Unauthenticated);
    await expectError(t.client(OrganizationService).getOrganization({ id: org.id }, bearer(apiKey.secret)), Code.Unauthenticated, "API_KEY_REVOKED");
    const passkeyLogin = await t.client(PasskeyService).startPasskeyAuthentication({ email: "" });
    await expectError(
      t
        .client(PasskeyService)
        .completePasskeyAuthentication({ challengeId: passkeyLogin.challengeId, responseJson: attackerKey.assert(passkeyLogin.optionsJson) }),
      Code.Unauthenticated,
    );
    expect((await t.client(PasskeyService).listPasskeys({}, bearer(victim.accessToken))).passkeys).toEqual([]);

    // The victim's own session works, and the audit log says what was removed.
    expect((await t.client(SessionService).validateSession({}, bearer(victim.accessToken))).valid).toBe(true);
    const [claimed] = await t.app.hooks.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.eventType, "auth.account_claimed"), eq(auditEvents.targetId, attacker.userId)));
    expect(claimed?.details).toMatchObject({ password: "true", mfa_factors: "1", passkeys: "1", api_keys: "1" });
    expect(Number(claimed?.details.sessions)).toBeGreaterThanOrEqual(1);
  });

  it("an account whose owner verified the address is linked as before: its password keeps working", async () => {
    const email = uniqueEmail("verified");
    const { user } = await t.client(AuthService).register({ email, password: STRONG_PASSWORD, displayName: "" });
    // As VerifyEmail records it (its own tests are in tests/integration/email-verification.test.ts).
    await t.app.hooks.store.users.update(user!.id, { emailVerifiedAt: t.clock.now() }, t.clock.now());
    const linked = await googleSignIn(email);
    expect(linked.created).toBe(false);
    expect((await t.client(AuthService).login({ email, password: STRONG_PASSWORD })).accessToken).not.toBe("");
  });

  it("an unverified account is never merely linked: the provider's sign-in does not leave its password in place", async () => {
    const email = uniqueEmail("unverified");
    await t.client(AuthService).register({ email, password: STRONG_PASSWORD, displayName: "" });
    await googleSignIn(email);
    await expectError(t.client(AuthService).login({ email, password: STRONG_PASSWORD }), Code.Unauthenticated, "INVALID_CREDENTIALS");
  });
});
