import { Code, type Client } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { DevService } from "../../gen/warden/dev/v1/dev_service_pb.js";
import { FactorType, MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { expectFailure, expectRateLimited, settleAll } from "../helpers/expect-error.js";
import { jwtClaims } from "../helpers/jwt.js";
import { addPhone, freshPhone, signUp, startChallenge, type Member } from "../helpers/mfa-world.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

/** Sends allowed per phone per hour in this file: enrollment plus two sign-in codes. */
const SENDS_PER_PHONE = 3;

describe("phone (SMS) codes in dev mode", () => {
  let t: TestApp;
  let auth: Client<typeof AuthService>;
  let mfa: Client<typeof MfaService>;
  let dev: Client<typeof DevService>;

  beforeAll(async () => {
    t = await createTestApp({ dev: true, otp_sends_per_phone_per_hour: SENDS_PER_PHONE });
    auth = t.client(AuthService);
    mfa = t.client(MfaService);
    dev = t.client(DevService);
  });
  afterAll(async () => t?.close());

  const lastCode = async (phone: string) => (await dev.getOTP({ phone })).code;
  const secondsUntil = (ts: Parameters<typeof timestampDate>[0] | undefined) => (timestampDate(ts!).getTime() - t.clock.now().getTime()) / 1000;

  /** A member with a confirmed phone, and a pending challenge that sent a code to it. */
  async function challengedByPhone(tag: string): Promise<{ m: Member; phone: string; challengeId: string; code: string }> {
    const m = await signUp(t, tag);
    const phone = await addPhone(t, m);
    const { challengeId, methods } = await startChallenge(auth, m.email);
    expect(methods).toEqual(["phone"]);
    const sent = await auth.submitPhoneAndRequestMFA({ challengeId, phone });
    expect(secondsUntil(sent.expiresAt)).toBe(300);
    return { m, phone, challengeId, code: await lastCode(phone) };
  }

  it("enrolls a phone: EnrollPhone sends a code, ConfirmPhone checks it", async () => {
    const m = await signUp(t, "enroll-phone");
    const phone = freshPhone();
    const enrolled = await mfa.enrollPhone({ phone }, m.h);
    expect(secondsUntil(enrolled.codeExpiresAt)).toBe(300);
    const code = await lastCode(phone);
    expect(code).toMatch(/^\d{6}$/);

    const wrong = code === "000000" ? "000001" : "000000";
    await expectFailure(mfa.confirmPhone({ factorId: enrolled.factorId, code: wrong }, m.h), Code.InvalidArgument, "MFA_CODE_INVALID");
    const confirmed = await mfa.confirmPhone({ factorId: enrolled.factorId, code }, m.h);
    expect(confirmed.factor).toMatchObject({ type: FactorType.PHONE, confirmed: true, maskedPhone: `${"*".repeat(phone.length - 4)}${phone.slice(-4)}` });
    // The code was single use.
    await expectFailure(mfa.confirmPhone({ factorId: enrolled.factorId, code }, m.h), Code.InvalidArgument, "MFA_CODE_INVALID");
    await expectFailure(mfa.enrollPhone({ phone: "0415 555 0100" }, m.h), Code.InvalidArgument, "PHONE_INVALID");
  });

  it("signs in with the code sent to the enrolled phone, once, even when raced", async () => {
    const { m, challengeId, code } = await challengedByPhone("sms-login");
    const raced = await settleAll(Array.from({ length: 6 }, () => auth.verifyMFA({ challengeId, code })));
    expect(raced.ok).toHaveLength(1);
    expect(raced.failures.map((f) => Code[f.code])).toEqual(Array(5).fill("Unauthenticated"));
    const claims = jwtClaims(raced.ok[0]!.accessToken);
    expect(claims.sub).toBe(m.userId);
    expect(claims.amr).toEqual(expect.arrayContaining(["pwd", "mfa", "sms"]));

    // The code belongs to that challenge: a new one does not take it.
    const again = await startChallenge(auth, m.email);
    await expectFailure(auth.verifyMFA({ challengeId: again.challengeId, code }), Code.Unauthenticated, "MFA_CODE_INVALID");
  });

  it("answers a phone that is not enrolled the same way, and sends nothing", async () => {
    const m = await signUp(t, "probe");
    const phone = await addPhone(t, m);
    const stranger = freshPhone();
    const { challengeId } = await startChallenge(auth, m.email);
    const forStranger = await auth.submitPhoneAndRequestMFA({ challengeId, phone: stranger });
    const forOwner = await auth.submitPhoneAndRequestMFA({ challengeId, phone });
    expect(secondsUntil(forStranger.expiresAt)).toBe(secondsUntil(forOwner.expiresAt));
    await expectFailure(dev.getOTP({ phone: stranger }), Code.NotFound);
    // Only the owner's code completes the challenge.
    expect((await auth.verifyMFA({ challengeId, code: await lastCode(phone) })).accessToken).not.toBe("");
  });

  it("lets codes expire after five minutes", async () => {
    const m = await signUp(t, "sms-expiry");
    const phone = freshPhone();
    const { factorId } = await mfa.enrollPhone({ phone }, m.h);
    const enrollCode = await lastCode(phone);
    t.clock.advance(301);
    await expectFailure(mfa.confirmPhone({ factorId, code: enrollCode }, m.h), Code.InvalidArgument, "MFA_CODE_INVALID");

    const late = await challengedByPhone("sms-expiry-login");
    t.clock.advance(301);
    await expectFailure(auth.verifyMFA({ challengeId: late.challengeId, code: late.code }), Code.Unauthenticated);
  });

  it("limits the codes sent to one phone per hour", async () => {
    const { m, phone, challengeId } = await challengedByPhone("quota");
    // Enrollment and the first sign-in code used two sends; one is left.
    await auth.submitPhoneAndRequestMFA({ challengeId, phone });
    const before = await lastCode(phone);
    await expectRateLimited(auth.submitPhoneAndRequestMFA({ challengeId, phone }));
    expect(await lastCode(phone)).toBe(before);
    // Other phones are not affected.
    const other = await signUp(t, "quota-other");
    await addPhone(t, other);
    expect(m.userId).not.toBe(other.userId);
  });
});
