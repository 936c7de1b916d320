import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { FactorType, MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { base32Decode } from "../../src/domain/mfa/totp.js";
import { expectFailure, settleAll } from "../helpers/expect-error.js";
import { jwtClaims } from "../helpers/jwt.js";
import { auditOf, signUp, signUpWithTotp, startChallenge, totpAt, wrongTotp, type TotpMember } from "../helpers/mfa-world.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

describe("TOTP second factor", () => {
  let t: TestApp;
  let auth: Client<typeof AuthService>;
  let mfa: Client<typeof MfaService>;

  beforeAll(async () => {
    // Every refused code below is a failure from the one in-memory "address": createTestApp keeps that budget out of the way.
    t = await createTestApp();
    auth = t.client(AuthService);
    mfa = t.client(MfaService);
  });
  afterAll(async () => t?.close());

  const expectCodeRefused = (call: Promise<unknown>) => expectFailure(call, Code.Unauthenticated, "MFA_CODE_INVALID");
  const expectChallengeDead = (call: Promise<unknown>) => expectFailure(call, Code.Unauthenticated, "MFA_CHALLENGE_INVALID");

  it("enrolls with a base32 secret and an otpauth URI, and activates only on the current code", async () => {
    const m = await signUp(t, "enroll");
    const enrolled = await mfa.enrollTotp({}, m.h);
    expect(enrolled.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32Decode(enrolled.secret)).toHaveLength(20);
    const uri = new URL(enrolled.otpauthUri);
    expect(uri.protocol).toBe("otpauth:");
    expect(decodeURIComponent(uri.pathname)).toContain(m.email);
    expect(uri.searchParams.get("secret")).toBe(enrolled.secret);
    expect(uri.searchParams.get("period")).toBe("30");

    await expectFailure(
      mfa.confirmTotp({ factorId: enrolled.factorId, code: wrongTotp(enrolled.secret, t.clock) }, m.h),
      Code.InvalidArgument,
      "MFA_CODE_INVALID",
    );
    // An unconfirmed factor does not change sign-in.
    expect((await auth.login({ email: m.email, password: STRONG_PASSWORD })).mfaRequired).toBe(false);

    const confirmed = await mfa.confirmTotp({ factorId: enrolled.factorId, code: totpAt(enrolled.secret, t.clock) }, m.h);
    expect(confirmed.factor).toMatchObject({ id: enrolled.factorId, type: FactorType.TOTP, confirmed: true });
    await expectFailure(
      mfa.confirmTotp({ factorId: enrolled.factorId, code: totpAt(enrolled.secret, t.clock, 1) }, m.h),
      Code.FailedPrecondition,
      "FACTOR_CONFIRMED",
    );

    const login = await auth.login({ email: m.email, password: STRONG_PASSWORD });
    expect(login).toMatchObject({ mfaRequired: true, accessToken: "", refreshToken: "", sessionId: "", mfaMethods: ["totp"] });
    expect(login.challengeId).toMatch(/^mfa_/);
  });

  it("completes the challenge with the current code: tokens carry amr mfa and auth_time", async () => {
    const m = await signUpWithTotp(t, "verify");
    const { challengeId } = await startChallenge(auth, m.email);
    const done = await auth.verifyMFA({ challengeId, code: totpAt(m.secret, t.clock) });
    expect(done.refreshToken).not.toBe("");
    const claims = jwtClaims(done.accessToken);
    expect(claims.sub).toBe(m.userId);
    expect(claims.amr).toEqual(expect.arrayContaining(["pwd", "mfa", "otp"]));
    expect(claims.auth_time).toBe(Math.floor(t.clock.now().getTime() / 1000));
    // The session works, and the same challenge cannot be completed twice.
    expect((await mfa.listFactors({}, bearer(done.accessToken))).factors).toHaveLength(1);
    await expectChallengeDead(auth.verifyMFA({ challengeId, code: totpAt(m.secret, t.clock, 1) }));
  });

  it("refuses a code already used, on a new challenge, and audits the replay", async () => {
    const m = await signUpWithTotp(t, "replay");
    const code = totpAt(m.secret, t.clock);
    await auth.verifyMFA({ challengeId: (await startChallenge(auth, m.email)).challengeId, code });
    expect(await auditOf(t, "mfa.totp_replay", m.userId)).toHaveLength(0);

    await expectCodeRefused(auth.verifyMFA({ challengeId: (await startChallenge(auth, m.email)).challengeId, code }));
    const replays = await auditOf(t, "mfa.totp_replay", m.userId);
    expect(replays).toHaveLength(1);
    expect(replays[0]).toMatchObject({ outcome: "failure", targetId: m.factorId, details: { result: "replay" } });
    // A code of an earlier step than the one used is refused too (steps only move forward).
    await expectCodeRefused(auth.verifyMFA({ challengeId: (await startChallenge(auth, m.email)).challengeId, code: totpAt(m.secret, t.clock, -1) }));
  });

  it("refuses a code two steps old and accepts one step of drift", async () => {
    const m = await signUpWithTotp(t, "drift");
    const { challengeId } = await startChallenge(auth, m.email);
    for (const drift of [-2, 2]) {
      const code = totpAt(m.secret, t.clock, drift);
      if ([-1, 0, 1].some((d) => totpAt(m.secret, t.clock, d) === code)) continue;
      await expectCodeRefused(auth.verifyMFA({ challengeId, code }));
    }
    // The step before the current one was used by ConfirmTotp: move on one so it is unused.
    t.clock.advance(30);
    expect((await auth.verifyMFA({ challengeId, code: totpAt(m.secret, t.clock, -1) })).accessToken).not.toBe("");
    const next = await startChallenge(auth, m.email);
    expect((await auth.verifyMFA({ challengeId: next.challengeId, code: totpAt(m.secret, t.clock, 1) })).accessToken).not.toBe("");
  });

  it("kills a challenge after five wrong codes", async () => {
    const m = await signUpWithTotp(t, "five");
    const { challengeId } = await startChallenge(auth, m.email);
    for (let i = 0; i < 5; i++) await expectCodeRefused(auth.verifyMFA({ challengeId, code: wrongTotp(m.secret, t.clock, i) }));
    await expectChallengeDead(auth.verifyMFA({ challengeId, code: totpAt(m.secret, t.clock) }));
    // The right code was not spent on the dead challenge.
    expect((await auth.verifyMFA({ challengeId: (await startChallenge(auth, m.email)).challengeId, code: totpAt(m.secret, t.clock) })).accessToken).not.toBe(
      "",
    );
  });

  it("refuses an expired challenge (older than five minutes)", async () => {
    const m = await signUpWithTotp(t, "expiry");
    const { challengeId } = await startChallenge(auth, m.email);
    t.clock.advance(301);
    await expectChallengeDead(auth.verifyMFA({ challengeId, code: totpAt(m.secret, t.clock) }));
  });

  it("gives exactly one success to parallel completions with the right code", async () => {
    const m = await signUpWithTotp(t, "parallel");
    const { challengeId } = await startChallenge(auth, m.email);
    const code = totpAt(m.secret, t.clock);
    const one = await settleAll(Array.from({ length: 8 }, () => auth.verifyMFA({ challengeId, code })));
    expect(one.ok).toHaveLength(1);
    expect(one.failures.map((f) => Code[f.code])).toEqual(Array(7).fill("Unauthenticated"));

    // One code raced over several challenges is still accepted once.
    t.clock.advance(30);
    const ids = await Promise.all([1, 2, 3, 4].map(async () => (await startChallenge(auth, m.email)).challengeId));
    const next = totpAt(m.secret, t.clock);
    expect((await settleAll(ids.map((challengeId) => auth.verifyMFA({ challengeId, code: next })))).ok).toHaveLength(1);
  });

  it("answers AuthenticateLocal for an MFA user with MFA_REQUIRED naming the challenge", async () => {
    const m = await signUpWithTotp(t, "local");
    const f = await expectFailure(auth.authenticateLocal({ username: m.email, password: STRONG_PASSWORD }), Code.FailedPrecondition, "MFA_REQUIRED");
    expect(f.metadata.challenge_id).toMatch(/^mfa_/);
    const done = await auth.verifyMFA({ challengeId: f.metadata.challenge_id!, code: totpAt(m.secret, t.clock) });
    expect(jwtClaims(done.accessToken).amr).toContain("mfa");
  });

  describe("fresh MFA proof (ValidateTotp)", () => {
    let m: TotpMember;
    beforeAll(async () => {
      m = await signUpWithTotp(t, "fresh");
    });

    // The member's first session was opened with the password only: no proof on it.
    const guarded = [() => mfa.generateRecoveryCodes({}, m.h), () => mfa.removeFactor({ factorId: m.factorId }, m.h)];
    const expectMfaRequired = async () => {
      for (const call of guarded) await expectFailure(call(), Code.FailedPrecondition, "MFA_REQUIRED");
    };

    it("is needed by RemoveFactor and GenerateRecoveryCodes", async () => {
      await expectMfaRequired();
      expect((await mfa.validateTotp({ code: wrongTotp(m.secret, t.clock) }, m.h)).valid).toBe(false);
      await expectMfaRequired();
    });

    it("works right after ValidateTotp and lapses after ten minutes", async () => {
      expect((await mfa.validateTotp({ code: totpAt(m.secret, t.clock) }, m.h)).valid).toBe(true);
      expect((await mfa.generateRecoveryCodes({}, m.h)).codes).toHaveLength(10);
      t.clock.advance(11 * 60);
      await expectMfaRequired();
    });

    it("lets the user remove the factor with a new proof; sign-in is then single-factor", async () => {
      expect((await mfa.validateTotp({ code: totpAt(m.secret, t.clock) }, m.h)).valid).toBe(true);
      await mfa.removeFactor({ factorId: m.factorId }, m.h);
      // Recovery codes only stand in for a factor: with none left they are gone too.
      expect((await mfa.listFactors({}, m.h)).factors).toEqual([]);
      expect((await auth.login({ email: m.email, password: STRONG_PASSWORD })).mfaRequired).toBe(false);
      await expectFailure(mfa.validateTotp({ code: totpAt(m.secret, t.clock) }, m.h), Code.FailedPrecondition, "NO_TOTP_FACTOR");
    });
  });

  describe("recovery codes", () => {
    let m: TotpMember;
    let fresh: ReturnType<typeof bearer>;
    const redeem = async (code: string) => auth.verifyMFA({ challengeId: (await startChallenge(auth, m.email)).challengeId, code });

    beforeAll(async () => {
      m = await signUpWithTotp(t, "recovery");
      // A session completed with the authenticator carries a fresh proof.
      const done = await auth.verifyMFA({ challengeId: (await startChallenge(auth, m.email)).challengeId, code: totpAt(m.secret, t.clock) });
      fresh = bearer(done.accessToken);
    });

    it("are ten distinct codes; each signs in once; new ones invalidate the old", async () => {
      const first = (await mfa.generateRecoveryCodes({}, fresh)).codes;
      expect(first).toHaveLength(10);
      expect(new Set(first).size).toBe(10);
      for (const c of first) expect(c).toMatch(/^[a-z2-7]{5}-[a-z2-7]{5}$/);
      expect((await startChallenge(auth, m.email)).methods).toEqual(["totp", "recovery_code"]);

      const done = await redeem(first[0]!);
      expect(jwtClaims(done.accessToken).amr).toEqual(expect.arrayContaining(["pwd", "mfa", "rec"]));
      await expectCodeRefused(redeem(first[0]!));

      const second = (await mfa.generateRecoveryCodes({}, fresh)).codes;
      expect(second.some((c) => first.includes(c))).toBe(false);
      await expectCodeRefused(redeem(first[1]!));

      // Spelling does not matter: upper case, no dash.
      await redeem(second[0]!.toUpperCase().replace("-", ""));
      for (const c of second.slice(1)) expect((await redeem(c)).accessToken).not.toBe("");
      for (const c of second.slice(0, 3)) await expectCodeRefused(redeem(c));
      const list = await mfa.listFactors({}, fresh);
      expect(list.factors.find((f) => f.type === FactorType.RECOVERY_CODES)).toBeUndefined();
      expect((await startChallenge(auth, m.email)).methods).toEqual(["totp"]);
    });

    it("give exactly one success when one code is raced on one and on several challenges", async () => {
      const codes = (await mfa.generateRecoveryCodes({}, fresh)).codes;
      const { challengeId } = await startChallenge(auth, m.email);
      const same = await settleAll(Array.from({ length: 6 }, () => auth.verifyMFA({ challengeId, code: codes[0]! })));
      expect(same.ok).toHaveLength(1);

      const ids = await Promise.all([1, 2, 3, 4].map(async () => (await startChallenge(auth, m.email)).challengeId));
      const spread = await settleAll(ids.flatMap((id) => [id, id].map((challengeId) => auth.verifyMFA({ challengeId, code: codes[1]! }))));
      expect(spread.ok).toHaveLength(1);
      expect(spread.failures).toHaveLength(7);
      const remaining = (await mfa.listFactors({}, fresh)).factors.find((f) => f.type === FactorType.RECOVERY_CODES);
      expect(remaining?.remainingCodes).toBe(8);
    });
  });
});
