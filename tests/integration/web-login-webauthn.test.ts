import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { PasskeyService } from "../../gen/warden/passkey/v1/passkey_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { MFA_CHALLENGE_TTL_SECONDS } from "../../src/domain/auth/sign-in.js";
import { addTotp, signUp, totpAt, type Member } from "../helpers/mfa-world.js";
import { useServedApp } from "../helpers/served-app.js";
import { SoftAuthenticator, strayKey } from "../helpers/soft-authenticator.js";
import { STRONG_PASSWORD } from "../helpers/test-app.js";

type Body = Record<string, unknown>;
interface StepUp {
  challengeId: string;
  mfaMethods: string[];
  webauthn: { challengeId: string; options: { challenge: string; rpId: string; userVerification: string; allowCredentials: { id: string }[] } };
}

/**
 * The web login's WebAuthn step-up: after the password, a user with a passkey answers with it
 * (POST /v1/webapi/login with {challengeId, webauthn: {challengeId, credential}}) before any
 * cookie is set. The passkey is one more second factor beside TOTP, and the only one for a user
 * without another.
 */
describe("web login with a passkey step-up", () => {
  // Every test sends from its own address: the OTP budget (4 failures) is per address.
  const served = useServedApp({ rate_class_budgets: "otp=4" });
  let lastAddress = 0;
  const freshAddress = () => `198.51.100.${++lastAddress}`;

  async function post(body: unknown, from: string) {
    const res = await fetch(`${served().server.url}/v1/webapi/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": from },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, setCookie: res.headers.get("set-cookie"), body: (await res.json()) as Body };
  }

  async function withPasskey<M extends Member>(m: M, authenticator = new SoftAuthenticator()) {
    const passkeys = served().t.client(PasskeyService);
    const start = await passkeys.startPasskeyRegistration({ name: "laptop" }, m.h);
    const done = await passkeys.completePasskeyRegistration({ challengeId: start.challengeId, responseJson: authenticator.register(start.optionsJson) }, m.h);
    return { ...m, authenticator, passkeyId: done.passkey!.id, credentialId: authenticator.credentials[0]!.id.toString("base64url") };
  }
  const passkeyUser = async (tag: string) => withPasskey(await signUp(served().t, tag));

  /** The password step of a user who has a passkey: the step-up, and no cookie. */
  async function passwordStep(email: string, from: string): Promise<StepUp> {
    const r = await post({ email, password: STRONG_PASSWORD }, from);
    expect(r.status).toBe(200);
    expect(r.setCookie).toBeNull();
    expect(r.body).toMatchObject({ mfaRequired: true, challengeId: expect.stringMatching(/^mfa_/), webauthn: { challengeId: expect.stringMatching(/^wac_/) } });
    return r.body as unknown as StepUp;
  }

  const answer = (step: StepUp, credential: string, webauthnChallengeId = step.webauthn.challengeId) => ({
    challengeId: step.challengeId,
    webauthn: { challengeId: webauthnChallengeId, credential: JSON.parse(credential) as unknown },
  });
  const assertFor = (a: SoftAuthenticator, step: StepUp, o: Parameters<SoftAuthenticator["assert"]>[1] = {}) =>
    a.assert(JSON.stringify(step.webauthn.options), o);

  /** A Connect call authenticated by the cookie and its CSRF token, as the SPA makes it. */
  async function validate(r: { setCookie: string | null; body: Body }) {
    const client = createClient(SessionService, createConnectTransport({ baseUrl: served().server.url, httpVersion: "1.1" }));
    return client.validateSession({}, { headers: { cookie: r.setCookie!.split(";")[0]!, "x-csrf-token": String(r.body.csrfToken) } });
  }

  async function auditEvents(type: string, userId: string) {
    const rows = await served().t.app.hooks.store.audit.listNewestFirst(1000);
    return rows.filter((r) => r.eventType === type && r.actorId === userId);
  }

  it("a passkey user answers the password step with the passkey and gets a working cookie", async () => {
    const u = await passkeyUser("wa-ann");
    const from = freshAddress();
    const step = await passwordStep(u.email, from);
    expect(step.mfaMethods).toEqual(["webauthn"]);
    // Request options for navigator.credentials.get: this user's passkey only, with user verification.
    expect(step.webauthn.options).toMatchObject({ rpId: "localhost", userVerification: "required", challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(step.webauthn.options.allowCredentials.map((c) => c.id)).toEqual([u.credentialId]);

    const r = await post(answer(step, assertFor(u.authenticator, step)), from);
    expect(r.status).toBe(200);
    expect(r.setCookie).toMatch(/^warden_session=wds_[0-9a-f]{32}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(r.body).toMatchObject({
      sessionId: expect.stringMatching(/^[0-9a-f]{32}$/),
      csrfToken: expect.stringMatching(/^[0-9a-f]{64}$/),
      expiresAt: expect.any(String),
      user: { id: u.userId, email: u.email },
    });
    expect(JSON.stringify(r.body)).not.toContain("wds_");
    await expect(validate(r)).resolves.toMatchObject({ valid: true, userId: u.userId, session: { id: r.body.sessionId, authMethod: "password" } });
    // The session carries the second factor (an organization's require-MFA is met).
    const session = await served().t.app.hooks.store.sessions.findById(String(r.body.sessionId));
    expect(session?.mfaAt).toBeTruthy();

    const verified = await auditEvents("auth.verify_mfa", u.userId);
    expect(verified.find((e) => e.outcome === "success")?.details).toMatchObject({ method: "webauthn", passkey_id: u.passkeyId });
    expect((await served().t.client(PasskeyService).listPasskeys({}, u.h)).passkeys[0]!.lastUsedTime).toBeDefined();
  });

  it("the password alone gives a passkey-only user no web session", async () => {
    const u = await passkeyUser("wa-bob");
    const from = freshAddress();
    const step = await passwordStep(u.email, from);
    // No code finishes it: the user has no TOTP, SMS or recovery code.
    const code = await post({ challengeId: step.challengeId, code: "123456" }, from);
    expect(code).toMatchObject({ status: 401, setCookie: null, body: { reason: "MFA_CODE_INVALID" } });
    // An empty or junk step-up is a 400, not a session.
    const missing = await post({ challengeId: step.challengeId, webauthn: { challengeId: step.webauthn.challengeId } }, from);
    expect(missing).toMatchObject({ status: 400, setCookie: null, body: { code: "invalid_argument", reason: "INVALID_ARGUMENT" } });
    expect(String(missing.body.message)).toContain("webauthn.credential");
  });

  it("refuses an assertion by another user's passkey, and another user's WebAuthn challenge", async () => {
    const victim = await passkeyUser("wa-victim");
    const attacker = await passkeyUser("wa-attacker");
    const from = freshAddress();

    // The attacker knows the victim's password but holds only their own passkey.
    const step = await passwordStep(victim.email, from);
    const own = await post(answer(step, assertFor(attacker.authenticator, step, { credentialId: attacker.credentialId })), from);
    expect(own).toMatchObject({ status: 401, setCookie: null, body: { code: "unauthenticated", reason: "PASSKEY_AUTHENTICATION_FAILED" } });

    // Nor does a correct assertion over a challenge issued to another user's sign-in count.
    const attackerStep = await passwordStep(attacker.email, freshAddress());
    const step2 = await passwordStep(victim.email, from);
    const crossed = await post(answer(step2, assertFor(attacker.authenticator, attackerStep), attackerStep.webauthn.challengeId), from);
    expect(crossed).toMatchObject({ status: 401, setCookie: null, body: { reason: "PASSKEY_CHALLENGE_INVALID" } });

    const failures = (await auditEvents("auth.verify_mfa", victim.userId)).filter((e) => e.outcome === "failure");
    expect(failures.map((e) => e.details.reason).sort()).toEqual(["passkey_challenge_invalid", "passkey_credential_not_allowed"]);
    // The attacker's own challenge was not spent by the crossed attempt: it still signs the attacker in.
    const attackerDone = await post(answer(attackerStep, assertFor(attacker.authenticator, attackerStep)), freshAddress());
    expect(attackerDone.status).toBe(200);
    expect(attackerDone.body).toMatchObject({ user: { id: attacker.userId } });
  });

  it("refuses a replayed step-up, a spent WebAuthn challenge and a stale assertion", async () => {
    const u = await passkeyUser("wa-replay");
    const from = freshAddress();
    const step = await passwordStep(u.email, from);
    const body = answer(step, assertFor(u.authenticator, step));
    expect((await post(body, from)).status).toBe(200);
    // The same request again: the MFA challenge is used.
    expect(await post(body, from)).toMatchObject({ status: 401, setCookie: null, body: { reason: "MFA_CHALLENGE_INVALID" } });

    // A new password step, with the old WebAuthn challenge and assertion: spent.
    const next = await passwordStep(u.email, from);
    const reused = await post({ challengeId: next.challengeId, webauthn: body.webauthn }, from);
    expect(reused).toMatchObject({ status: 401, setCookie: null, body: { reason: "PASSKEY_CHALLENGE_INVALID" } });

    // The old assertion under the new WebAuthn challenge: signed over another challenge.
    const third = await passwordStep(u.email, from);
    const stale = await post(answer(third, JSON.stringify(body.webauthn.credential)), from);
    expect(stale).toMatchObject({ status: 401, setCookie: null, body: { reason: "PASSKEY_AUTHENTICATION_FAILED" } });
  });

  it("refuses a tampered or forged signature and a replayed counter (audited as a clone)", async () => {
    const u = await passkeyUser("wa-tamper");
    const from = freshAddress();

    const step = await passwordStep(u.email, from);
    const credential = JSON.parse(assertFor(u.authenticator, step)) as { response: { signature: string } };
    const sig = Buffer.from(credential.response.signature, "base64url");
    sig[sig.length - 1]! ^= 0x01;
    credential.response.signature = sig.toString("base64url");
    const tampered = await post(answer(step, JSON.stringify(credential)), from);
    expect(tampered).toMatchObject({ status: 401, setCookie: null, body: { reason: "PASSKEY_AUTHENTICATION_FAILED" } });

    const step2 = await passwordStep(u.email, from);
    const forged = await post(answer(step2, assertFor(u.authenticator, step2, { signWith: strayKey() })), from);
    expect(forged).toMatchObject({ status: 401, body: { reason: "PASSKEY_AUTHENTICATION_FAILED" } });

    // A correct signature over a counter that did not grow: the passkey may be cloned.
    const step3 = await passwordStep(u.email, from);
    expect((await post(answer(step3, assertFor(u.authenticator, step3, { counter: 7 })), from)).status).toBe(200);
    const step4 = await passwordStep(u.email, freshAddress());
    const cloned = await post(answer(step4, assertFor(u.authenticator, step4, { counter: 7 })), from);
    expect(cloned).toMatchObject({ status: 401, setCookie: null, body: { reason: "PASSKEY_COUNTER_REGRESSED" } });
    expect(await auditEvents("passkey.clone_suspected", u.userId)).toHaveLength(1);

    const reasons = (await auditEvents("auth.verify_mfa", u.userId)).filter((e) => e.outcome === "failure").map((e) => e.details.reason);
    expect(reasons.sort()).toEqual(["passkey_counter_regressed", "passkey_verification_failed", "passkey_verification_failed"]);
  });

  it("a user with TOTP and a passkey may finish with either", async () => {
    const t = served().t;
    const u = await withPasskey(await addTotp(t, await signUp(t, "wa-both")));
    const from = freshAddress();

    const first = await passwordStep(u.email, from);
    expect(first.mfaMethods).toEqual(expect.arrayContaining(["totp", "webauthn"]));
    const byPasskey = await post(answer(first, assertFor(u.authenticator, first)), from);
    expect(byPasskey.status).toBe(200);
    await expect(validate(byPasskey)).resolves.toMatchObject({ valid: true, userId: u.userId });

    const second = await passwordStep(u.email, from);
    const byCode = await post({ challengeId: second.challengeId, code: totpAt(u.secret, t.clock) }, from);
    expect(byCode.status).toBe(200);
    expect(byCode.setCookie).toMatch(/^warden_session=wds_/);
    await expect(validate(byCode)).resolves.toMatchObject({ valid: true, userId: u.userId });

    // Login over RPC is unchanged: its VerifyMFA takes codes, so it lists codes only.
    const rpc = await t.client(AuthService).login({ email: u.email, password: STRONG_PASSWORD });
    expect(rpc.mfaRequired).toBe(true);
    expect(rpc.mfaMethods).not.toContain("webauthn");
  });

  it("refuses an expired challenge", async () => {
    const u = await passkeyUser("wa-late");
    const from = freshAddress();
    const step = await passwordStep(u.email, from);
    served().t.clock.advance(MFA_CHALLENGE_TTL_SECONDS + 1);
    const late = await post(answer(step, assertFor(u.authenticator, step)), from);
    expect(late).toMatchObject({ status: 401, setCookie: null, body: { reason: "MFA_CHALLENGE_INVALID" } });
  });

  it("spends the OTP step's budgets: the challenge dies after five failures, the address after four", async () => {
    const u = await passkeyUser("wa-budget");
    const step = await passwordStep(u.email, freshAddress());
    // Each failure from a new address: only the challenge's own failure count adds up.
    for (let i = 0; i < 5; i++) {
      const wrong = await post(answer(step, assertFor(u.authenticator, step, { signWith: strayKey() }), `wac_${"A".repeat(32)}`), freshAddress());
      expect(wrong.body.reason).toBe("PASSKEY_CHALLENGE_INVALID");
    }
    const fresh = await passwordStep(u.email, freshAddress());
    const dead = await post(answer(step, assertFor(u.authenticator, fresh), fresh.webauthn.challengeId), freshAddress());
    expect(dead.body.reason).toBe("MFA_CHALLENGE_INVALID");

    // One address: four failed answers (on fresh challenges), then the OTP budget refuses even a good one.
    const from = freshAddress();
    for (let i = 0; i < 4; i++) {
      const s = await passwordStep(u.email, from);
      expect((await post(answer(s, assertFor(u.authenticator, s, { signWith: strayKey() })), from)).status).toBe(401);
    }
    const s = await passwordStep(u.email, from);
    const limited = await post(answer(s, assertFor(u.authenticator, s)), from);
    expect(limited).toMatchObject({ status: 429, setCookie: null, body: { reason: "RATE_LIMITED" } });
  });

  it("answers malformed step-ups with INVALID_ARGUMENT naming the field", async () => {
    const u = await passkeyUser("wa-junk");
    const from = freshAddress();
    const step = await passwordStep(u.email, from);
    const good = JSON.parse(assertFor(u.authenticator, step)) as Body;
    const cases: [unknown, string][] = [
      [{ challengeId: step.challengeId, webauthn: "x" }, "webauthn"],
      [{ challengeId: step.challengeId, webauthn: { credential: good } }, "webauthn.challengeId"],
      [{ challengeId: step.challengeId, webauthn: { challengeId: "wac_short", credential: good } }, "webauthn.challengeId"],
      [{ challengeId: step.challengeId, webauthn: { challengeId: step.webauthn.challengeId, credential: JSON.stringify(good) } }, "webauthn.credential"],
      [
        { challengeId: step.challengeId, webauthn: { challengeId: step.webauthn.challengeId, credential: { ...good, type: "password" } } },
        "webauthn.credential",
      ],
      [{ challengeId: step.challengeId, webauthn: { challengeId: step.webauthn.challengeId, credential: { ...good, response: {} } } }, "webauthn.credential"],
      [{ challengeId: step.challengeId, code: "123456", webauthn: { challengeId: step.webauthn.challengeId, credential: good } }, "code"],
    ];
    for (const [body, field] of cases) {
      const r = await post(body, from);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(r.body.code).toBe("invalid_argument");
      expect(String(r.body.message)).toMatch(new RegExp(`^${field.replace(".", "\\.")}:`));
    }
    // None of that spent the step-up: the good answer still works.
    const done = await post(answer(step, JSON.stringify(good)), from);
    expect(done.status).toBe(200);
  });
});
