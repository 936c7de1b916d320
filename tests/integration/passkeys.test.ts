import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { PasskeyService } from "../../gen/warden/passkey/v1/passkey_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { expectFailure, failureOf } from "../helpers/expect-error.js";
import { signUp } from "../helpers/mfa-world.js";
import { FLAG_UP, FLAG_UV, SoftAuthenticator, strayKey } from "../helpers/soft-authenticator.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

describe("passkeys (WebAuthn) with a software authenticator", () => {
  let t: TestApp;
  let passkeys: Client<typeof PasskeyService>;
  let auth: Client<typeof AuthService>;

  beforeAll(async () => {
    // The fuzz tests fail on purpose many times from one address: createTestApp keeps the network budget out of the way.
    t = await createTestApp();
    passkeys = t.client(PasskeyService);
    auth = t.client(AuthService);
  });
  afterAll(async () => t?.close());

  async function registerPasskey(h: ReturnType<typeof bearer>, authenticator = new SoftAuthenticator(), name = "laptop") {
    const start = await passkeys.startPasskeyRegistration({ name }, h);
    const done = await passkeys.completePasskeyRegistration({ challengeId: start.challengeId, responseJson: authenticator.register(start.optionsJson) }, h);
    return { authenticator, passkey: done.passkey! };
  }

  /** A user with one registered passkey. */
  async function userWithPasskey(tag: string, authenticator?: SoftAuthenticator) {
    const u = await signUp(t, tag);
    return { ...u, ...(await registerPasskey(u.h, authenticator)) };
  }

  const startLogin = (email = "") => passkeys.startPasskeyAuthentication({ email });
  const finishLogin = (challengeId: string, responseJson: string) => passkeys.completePasskeyAuthentication({ challengeId, responseJson });

  async function auditEvents(type: string) {
    const rows = await t.app.hooks.store.audit.listNewestFirst(1000);
    return rows.filter((r) => r.eventType === type);
  }

  it("registers a passkey and signs in with it: the same session and tokens as password login", async () => {
    const u = await signUp(t, "ann");
    const start = await passkeys.startPasskeyRegistration({ name: "laptop" }, u.h);
    const options = JSON.parse(start.optionsJson);
    expect(options.rp).toEqual({ name: "Warden", id: "localhost" });
    expect(options.authenticatorSelection).toMatchObject({ residentKey: "required", userVerification: "required" });
    expect(options.attestation).toBe("none");
    expect(Buffer.from(options.user.id, "base64url").toString("hex")).toBe(u.userId.replace(/-/g, ""));

    const authenticator = new SoftAuthenticator();
    const done = await passkeys.completePasskeyRegistration({ challengeId: start.challengeId, responseJson: authenticator.register(start.optionsJson) }, u.h);
    expect(done.passkey).toMatchObject({ name: "laptop", deviceType: "singleDevice", backedUp: false });

    // Discoverable: no email, no allowCredentials.
    const login = await startLogin();
    const loginOptions = JSON.parse(login.optionsJson);
    expect(loginOptions.allowCredentials ?? []).toEqual([]);
    expect(loginOptions).toMatchObject({ rpId: "localhost", userVerification: "required" });
    const tokens = await finishLogin(login.challengeId, authenticator.assert(login.optionsJson));
    expect(tokens.userId).toBe(u.userId);
    expect(tokens.accessToken.split(".")).toHaveLength(3);
    expect(tokens.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokens.expiresAt).toBeDefined();

    const v = await t.client(SessionService).validateSession({}, bearer(tokens.accessToken));
    expect(v).toMatchObject({ valid: true, userId: u.userId });
    expect(v.session?.id).toBe(tokens.sessionId);
    expect(v.session?.authMethod).toBe("passkey");
    const refreshed = await auth.refresh({ refreshToken: tokens.refreshToken });
    expect(refreshed.accessToken).not.toBe("");

    const listed = await passkeys.listPasskeys({}, u.h);
    expect(listed.passkeys).toHaveLength(1);
    expect(listed.passkeys[0]!.id).toBe(done.passkey!.id);
    expect(listed.passkeys[0]!.lastUsedTime).toBeDefined();

    expect((await auditEvents("passkey.register")).some((e) => e.actorId === u.userId && e.outcome === "success")).toBe(true);
    expect((await auditEvents("auth.passkey_login")).some((e) => e.actorId === u.userId && e.outcome === "success")).toBe(true);
  });

  it("narrows allowCredentials to an account's passkeys by email, with a stable decoy for unknown emails", async () => {
    const u = await userWithPasskey("bob");
    const narrowed = JSON.parse((await startLogin(u.email.toUpperCase())).optionsJson);
    expect(narrowed.allowCredentials.map((c: { id: string }) => c.id)).toEqual([u.authenticator.credentials[0]!.id.toString("base64url")]);

    const a = JSON.parse((await startLogin("nobody@passkeys.test")).optionsJson);
    const b = JSON.parse((await startLogin("nobody@passkeys.test")).optionsJson);
    expect(a.allowCredentials).toHaveLength(1);
    expect(a.allowCredentials[0].id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.allowCredentials).toEqual(a.allowCredentials);
    expect(a.challenge).not.toBe(b.challenge);

    const login = await startLogin(u.email);
    const tokens = await finishLogin(login.challengeId, u.authenticator.assert(login.optionsJson));
    expect(tokens.userId).toBe(u.userId);
  });

  it("refuses a challenge used twice, for sign-in and for registration", async () => {
    const u = await userWithPasskey("replay");
    const login = await startLogin();
    await finishLogin(login.challengeId, u.authenticator.assert(login.optionsJson));
    await expectFailure(finishLogin(login.challengeId, u.authenticator.assert(login.optionsJson)), Code.Unauthenticated, "PASSKEY_CHALLENGE_INVALID");

    const start = await passkeys.startPasskeyRegistration({ name: "second" }, u.h);
    const other = new SoftAuthenticator();
    await passkeys.completePasskeyRegistration({ challengeId: start.challengeId, responseJson: other.register(start.optionsJson) }, u.h);
    await expectFailure(
      passkeys.completePasskeyRegistration({ challengeId: start.challengeId, responseJson: new SoftAuthenticator().register(start.optionsJson) }, u.h),
      Code.FailedPrecondition,
      "PASSKEY_CHALLENGE_INVALID",
    );
    expect((await passkeys.listPasskeys({}, u.h)).passkeys).toHaveLength(2);
  });

  it("refuses a challenge after ten minutes (and accepts one just inside them)", async () => {
    const u = await userWithPasskey("expiry");
    const inside = await startLogin();
    t.clock.advance(9 * 60 + 50);
    expect((await finishLogin(inside.challengeId, u.authenticator.assert(inside.optionsJson))).userId).toBe(u.userId);

    const late = await startLogin();
    t.clock.advance(11 * 60);
    await expectFailure(finishLogin(late.challengeId, u.authenticator.assert(late.optionsJson)), Code.Unauthenticated, "PASSKEY_CHALLENGE_INVALID");

    // Access tokens live 15 minutes: sign in again around the registration challenge.
    const signIn = async () => bearer((await auth.login({ email: u.email, password: STRONG_PASSWORD })).accessToken);
    const reg = await passkeys.startPasskeyRegistration({ name: "late" }, await signIn());
    t.clock.advance(11 * 60);
    const fresh = await signIn();
    await expectFailure(
      passkeys.completePasskeyRegistration({ challengeId: reg.challengeId, responseJson: new SoftAuthenticator().register(reg.optionsJson) }, fresh),
      Code.FailedPrecondition,
      "PASSKEY_CHALLENGE_INVALID",
    );
  });

  it("refuses a wrong origin, a wrong RP ID, a wrong challenge, a forged signature and a missing user verification", async () => {
    const u = await userWithPasskey("origin");
    const cases: { what: string; overrides: Parameters<SoftAuthenticator["assert"]>[1] }[] = [
      { what: "origin", overrides: { origin: "https://evil.example" } },
      { what: "origin port", overrides: { origin: "http://localhost:8081" } },
      { what: "rp id", overrides: { rpId: "evil.example" } },
      { what: "challenge", overrides: { challenge: Buffer.alloc(32, 7).toString("base64url") } },
      { what: "type", overrides: { type: "webauthn.create" } },
      { what: "signature", overrides: { signWith: strayKey() } },
      { what: "user verification", overrides: { flags: FLAG_UP } },
      { what: "user presence", overrides: { flags: FLAG_UV } },
      { what: "user handle", overrides: { userHandle: Buffer.alloc(16, 1).toString("base64url") } },
    ];
    for (const c of cases) {
      const login = await startLogin();
      const f = await failureOf(finishLogin(login.challengeId, u.authenticator.assert(login.optionsJson, c.overrides)));
      expect(f && `${Code[f.code]} ${f.reason}`, c.what).toBe("Unauthenticated PASSKEY_AUTHENTICATION_FAILED");
      // The refused challenge is spent: a correct assertion for it is refused as well.
      await expectFailure(finishLogin(login.challengeId, u.authenticator.assert(login.optionsJson)), Code.Unauthenticated, "PASSKEY_CHALLENGE_INVALID");
    }
    // Nothing above was a clone: the forged assertion carried a low counter but no valid signature.
    expect((await auditEvents("passkey.clone_suspected")).filter((e) => e.actorId === u.userId)).toHaveLength(0);

    for (const overrides of [{ origin: "https://evil.example" }, { rpId: "evil.example" }, { flags: FLAG_UP }]) {
      const start = await passkeys.startPasskeyRegistration({ name: "bad" }, u.h);
      await expectFailure(
        passkeys.completePasskeyRegistration(
          { challengeId: start.challengeId, responseJson: new SoftAuthenticator().register(start.optionsJson, overrides) },
          u.h,
        ),
        Code.InvalidArgument,
        "PASSKEY_REGISTRATION_INVALID",
      );
    }
    expect((await passkeys.listPasskeys({}, u.h)).passkeys).toHaveLength(1);
    expect((await auditEvents("auth.passkey_login")).filter((e) => e.actorId === u.userId && e.outcome === "failure").length).toBeGreaterThanOrEqual(
      cases.length,
    );
  });

  it("stores the counter after every assertion and refuses (and audits) one that does not grow", async () => {
    const u = await userWithPasskey("clone");
    for (let i = 0; i < 3; i++) {
      const login = await startLogin();
      await finishLogin(login.challengeId, u.authenticator.assert(login.optionsJson));
    }
    expect(u.authenticator.credentials[0]!.counter).toBe(3);

    for (const counter of [3, 2, 0]) {
      const login = await startLogin();
      await expectFailure(
        finishLogin(login.challengeId, u.authenticator.assert(login.optionsJson, { counter })),
        Code.Unauthenticated,
        "PASSKEY_COUNTER_REGRESSED",
      );
    }
    const alerts = (await auditEvents("passkey.clone_suspected")).filter((e) => e.actorId === u.userId);
    expect(alerts).toHaveLength(3);
    expect(alerts.every((a) => a.outcome === "failure" && a.targetId === u.passkey.id && a.details.stored_counter === "3")).toBe(true);
    expect(alerts.map((a) => a.details.presented_counter).sort()).toEqual(["0", "2", "3"]);

    // The real authenticator moves on and is still accepted.
    const login = await startLogin();
    expect((await finishLogin(login.challengeId, u.authenticator.assert(login.optionsJson, { counter: 10 }))).userId).toBe(u.userId);
  });

  it("accepts an authenticator without a counter (always 0), every time", async () => {
    const u = await userWithPasskey("counterless", new SoftAuthenticator({ counterless: true, backedUp: true }));
    expect(u.passkey).toMatchObject({ deviceType: "multiDevice", backedUp: true });
    for (let i = 0; i < 3; i++) {
      const login = await startLogin(u.email);
      expect((await finishLogin(login.challengeId, u.authenticator.assert(login.optionsJson))).userId).toBe(u.userId);
    }
  });

  it("parallel completions of one challenge: exactly one success", async () => {
    const u = await userWithPasskey("parallel");
    const login = await startLogin();
    const assertions = Array.from({ length: 8 }, () => u.authenticator.assert(login.optionsJson));
    const results = await Promise.all(assertions.map((a) => failureOf(finishLogin(login.challengeId, a))));
    expect(results.filter((r) => r === undefined)).toHaveLength(1);
    expect(results.filter((r) => r).every((r) => r!.code === Code.Unauthenticated && r!.reason === "PASSKEY_CHALLENGE_INVALID")).toBe(true);
  });

  it("parallel assertions with the same counter on two challenges: exactly one success, one clone alert", async () => {
    const u = await userWithPasskey("race");
    const [a, b] = await Promise.all([startLogin(), startLogin()]);
    const results = await Promise.all([
      failureOf(finishLogin(a.challengeId, u.authenticator.assert(a.optionsJson, { counter: 5 }))),
      failureOf(finishLogin(b.challengeId, u.authenticator.assert(b.optionsJson, { counter: 5 }))),
    ]);
    expect(results.filter((r) => r === undefined)).toHaveLength(1);
    expect(results.find((r) => r)?.reason).toBe("PASSKEY_COUNTER_REGRESSED");
  });

  it("answers fuzzed response_json with INVALID_ARGUMENT or UNAUTHENTICATED, never INTERNAL", async () => {
    const u = await userWithPasskey("fuzz");
    const allowed = new Set([Code.InvalidArgument, Code.Unauthenticated]);
    const sample = JSON.parse(u.authenticator.assert((await startLogin()).optionsJson));
    const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
    const withResponse = (patch: Record<string, unknown>) => JSON.stringify({ ...sample, response: { ...sample.response, ...patch } });
    const handmade: string[] = [
      "",
      " ",
      "null",
      "0",
      "true",
      '"text"',
      "[]",
      "{}",
      "{",
      '{"id":',
      "\u0000\u0001\u0002",
      "x".repeat(70_000),
      JSON.stringify({ ...sample, id: 1 }),
      JSON.stringify({ ...sample, id: null, rawId: null }),
      JSON.stringify({ ...sample, rawId: "different" }),
      JSON.stringify({ ...sample, id: "not base64url!", rawId: "not base64url!" }),
      JSON.stringify({ ...sample, type: "password" }),
      JSON.stringify({ ...sample, response: null }),
      JSON.stringify({ ...sample, response: [] }),
      JSON.stringify({ ...sample, response: "x" }),
      JSON.stringify({ ...sample, clientExtensionResults: [] }),
      JSON.stringify({ ...sample, authenticatorAttachment: 5 }),
      JSON.stringify({ ...sample, id: "A".repeat(5000), rawId: "A".repeat(5000) }),
      withResponse({ clientDataJSON: 42 }),
      withResponse({ clientDataJSON: "" }),
      withResponse({ clientDataJSON: b64("not json") }),
      withResponse({ clientDataJSON: b64(null) }),
      withResponse({ clientDataJSON: b64([]) }),
      withResponse({ clientDataJSON: b64({ type: 1, challenge: {}, origin: [] }) }),
      withResponse({
        clientDataJSON: b64({
          type: "webauthn.get",
          challenge: JSON.parse(Buffer.from(sample.response.clientDataJSON, "base64url").toString()).challenge,
          origin: "http://localhost:8080",
          tokenBinding: "x",
        }),
      }),
      withResponse({ authenticatorData: "" }),
      withResponse({ authenticatorData: "AAAA" }),
      withResponse({ authenticatorData: sample.response.authenticatorData.slice(0, 40) }),
      withResponse({ authenticatorData: Buffer.alloc(37, 0xff).toString("base64url") }),
      withResponse({ authenticatorData: Buffer.alloc(300, 0xc5).toString("base64url") }),
      withResponse({ signature: "" }),
      withResponse({ signature: "AAAA" }),
      withResponse({ signature: Buffer.alloc(72, 0x30).toString("base64url") }),
      withResponse({ signature: { a: 1 } }),
      withResponse({ userHandle: 7 }),
      withResponse({ userHandle: "" }),
    ];
    const full = JSON.stringify(sample);
    for (let cut = 1; cut < full.length; cut += 37) handmade.push(full.slice(0, cut));

    // Seeded mutations of a real response (flip, drop, duplicate a character).
    let seed = 0x5eed;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    const mutate = (s: string) => {
      const i = rand(s.length);
      const op = rand(3);
      const junk = '{}[]",:0aA_-\\'[rand(13)]!;
      return op === 0 ? s.slice(0, i) + junk + s.slice(i + 1) : op === 1 ? s.slice(0, i) + s.slice(i + 1) : s.slice(0, i) + s[i] + s.slice(i);
    };

    const seen = new Map<string, number>();
    const tryOne = async (build: (optionsJson: string) => string, allowSuccess: boolean) => {
      const login = await startLogin();
      const f = await failureOf(finishLogin(login.challengeId, build(login.optionsJson)));
      const key = f ? Code[f.code] : "OK";
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (!f) expect(allowSuccess, "a fuzzed response signed in").toBe(true);
      else expect(allowed.has(f.code), `${Code[f.code]} ${f.reason} ${f.message}`).toBe(true);
    };
    for (const body of handmade) await tryOne(() => body, false);
    // A mutation may leave the signed parts intact (say, a renamed optional field): success is then fine.
    for (let i = 0; i < 150; i++) await tryOne((o) => mutate(mutate(u.authenticator.assert(o))), true);
    expect(seen.get("InvalidArgument")).toBeGreaterThan(10);
    expect(seen.get("Unauthenticated")).toBeGreaterThan(10);

    // Registration gets the same treatment.
    for (const body of handmade.slice(0, 24)) {
      const start = await passkeys.startPasskeyRegistration({ name: "fuzz" }, u.h);
      const f = await failureOf(passkeys.completePasskeyRegistration({ challengeId: start.challengeId, responseJson: body }, u.h));
      expect(f && [Code.InvalidArgument, Code.FailedPrecondition].includes(f.code), f && `${Code[f.code]} ${f.reason}`).toBe(true);
    }
    for (let i = 0; i < 40; i++) {
      const start = await passkeys.startPasskeyRegistration({ name: "fuzz" }, u.h);
      const f = await failureOf(
        passkeys.completePasskeyRegistration(
          { challengeId: start.challengeId, responseJson: mutate(mutate(new SoftAuthenticator().register(start.optionsJson))) },
          u.h,
        ),
      );
      if (f) expect([Code.InvalidArgument, Code.AlreadyExists, Code.FailedPrecondition].includes(f.code), `${Code[f.code]} ${f.reason}`).toBe(true);
    }

    // Bad challenge ids are refused before any lookup.
    for (const challengeId of ["", "x", "wac_short", `wac_${"A".repeat(32)}`, "'; drop table passkeys; --"]) {
      const f = await failureOf(finishLogin(challengeId, full));
      expect(f && allowed.has(f.code)).toBe(true);
    }

    // Still healthy afterwards.
    const login = await startLogin();
    expect((await finishLogin(login.challengeId, u.authenticator.assert(login.optionsJson))).userId).toBe(u.userId);
  }, 120_000);

  it("serves the BeginWebAuthnLogin / FinishWebAuthnLogin aliases", async () => {
    const u = await userWithPasskey("alias");
    const begin = await passkeys.beginWebAuthnLogin({ email: u.email });
    expect(JSON.parse(begin.optionsJson).allowCredentials).toHaveLength(1);
    const finish = await passkeys.finishWebAuthnLogin({ challengeId: begin.challengeId, responseJson: u.authenticator.assert(begin.optionsJson) });
    expect(finish.userId).toBe(u.userId);
    expect((await t.client(SessionService).validateSession({}, bearer(finish.accessToken))).valid).toBe(true);
    await expectFailure(
      passkeys.finishWebAuthnLogin({ challengeId: begin.challengeId, responseJson: u.authenticator.assert(begin.optionsJson) }),
      Code.Unauthenticated,
      "PASSKEY_CHALLENGE_INVALID",
    );

    // The pairs are interchangeable: one kind of challenge.
    const mixed = await passkeys.beginWebAuthnLogin({ email: "" });
    expect((await finishLogin(mixed.challengeId, u.authenticator.assert(mixed.optionsJson))).userId).toBe(u.userId);
  });

  it("keeps passkeys per account: RemovePasskey of another user's id looks like a missing one", async () => {
    const a = await userWithPasskey("owner");
    const b = await userWithPasskey("intruder");
    expect((await passkeys.listPasskeys({}, b.h)).passkeys.map((p) => p.id)).toEqual([b.passkey.id]);

    const theirs = await expectFailure(passkeys.removePasskey({ id: a.passkey.id }, b.h), Code.PermissionDenied);
    const missing = await expectFailure(passkeys.removePasskey({ id: "00000000-0000-4000-8000-000000000000" }, b.h), Code.PermissionDenied);
    expect(missing).toEqual(theirs);
    // A malformed id names no passkey at all: its shape is refused before anything is looked up.
    await expectFailure(passkeys.removePasskey({ id: "not-a-uuid" }, b.h), Code.InvalidArgument);
    await expectFailure(passkeys.removePasskey({ id: "" }, b.h), Code.InvalidArgument);
    await expectFailure(passkeys.removePasskey({ id: a.passkey.id }), Code.Unauthenticated);
    expect((await passkeys.listPasskeys({}, a.h)).passkeys).toHaveLength(1);

    // A registration challenge belongs to the user it was issued to.
    const start = await passkeys.startPasskeyRegistration({ name: "x" }, a.h);
    await expectFailure(
      passkeys.completePasskeyRegistration({ challengeId: start.challengeId, responseJson: new SoftAuthenticator().register(start.optionsJson) }, b.h),
      Code.FailedPrecondition,
      "PASSKEY_CHALLENGE_INVALID",
    );

    // A sign-in narrowed to A's email does not accept B's passkey.
    const narrowed = await startLogin(a.email);
    await expectFailure(
      finishLogin(
        narrowed.challengeId,
        b.authenticator.assert(narrowed.optionsJson, { credentialId: b.authenticator.credentials[0]!.id.toString("base64url") }),
      ),
      Code.Unauthenticated,
      "PASSKEY_AUTHENTICATION_FAILED",
    );

    await passkeys.removePasskey({ id: a.passkey.id }, a.h);
    expect((await passkeys.listPasskeys({}, a.h)).passkeys).toHaveLength(0);
    expect((await auditEvents("passkey.remove")).some((e) => e.targetId === a.passkey.id)).toBe(true);
    const login = await startLogin();
    await expectFailure(finishLogin(login.challengeId, a.authenticator.assert(login.optionsJson)), Code.Unauthenticated, "PASSKEY_AUTHENTICATION_FAILED");
  });

  it("gives a disabled user no token, and registration needs a signed-in user", async () => {
    const u = await userWithPasskey("disabled");
    const admin = await auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    await t.client(UserService).disableUser({ id: u.userId }, bearer(admin.accessToken));
    const login = await startLogin();
    await expectFailure(finishLogin(login.challengeId, u.authenticator.assert(login.optionsJson)), Code.Unauthenticated, "PASSKEY_AUTHENTICATION_FAILED");
    expect((await auditEvents("auth.passkey_login")).some((e) => e.actorId === u.userId && e.details.reason === "user_disabled")).toBe(true);
    // The disabled account's email is answered like an unknown one.
    const narrowed = JSON.parse((await startLogin(u.email)).optionsJson);
    expect(narrowed.allowCredentials[0].id).not.toBe(u.authenticator.credentials[0]!.id.toString("base64url"));

    await expectFailure(passkeys.startPasskeyRegistration({ name: "x" }), Code.Unauthenticated);
    await expectFailure(passkeys.listPasskeys({}), Code.Unauthenticated);
    const other = await signUp(t, "names");
    await expectFailure(passkeys.startPasskeyRegistration({ name: "x".repeat(65) }, other.h), Code.InvalidArgument);
    await expectFailure(passkeys.startPasskeyRegistration({ name: "bad\nname" }, other.h), Code.InvalidArgument);
    const unnamed = await registerPasskey(other.h, new SoftAuthenticator(), "");
    expect(unnamed.passkey.name).toBe("Passkey");
  });

  it("refuses registering the same credential twice", async () => {
    const u = await userWithPasskey("dup");
    const start = await passkeys.startPasskeyRegistration({ name: "again" }, u.h);
    const excluded = JSON.parse(start.optionsJson).excludeCredentials.map((c: { id: string }) => c.id);
    expect(excluded).toEqual([u.authenticator.credentials[0]!.id.toString("base64url")]);
    // A client that ignores excludeCredentials and presents the first registration's credential.
    const replayed = u.authenticator.register(start.optionsJson, { reuse: u.authenticator.credentials[0]! });
    await expectFailure(
      passkeys.completePasskeyRegistration({ challengeId: start.challengeId, responseJson: replayed }, u.h),
      Code.AlreadyExists,
      "PASSKEY_ALREADY_REGISTERED",
    );
  });
});
