import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { stepAt, totpCode } from "../../src/domain/mfa/totp.js";
import { expectError } from "../helpers/expect-error.js";
import { jwtClaims } from "../helpers/jwt.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

// One app for the file: each test signs up accounts of its own.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.close());

describe("TOTP enrollment then MFA sign-in", () => {
  it("challenges a user with a confirmed authenticator and accepts each code once", async () => {
    const auth = t.client(AuthService);
    const mfa = t.client(MfaService);
    await auth.register({ email: "tia@example.com", password: STRONG_PASSWORD });
    const first = await auth.login({ email: "tia@example.com", password: STRONG_PASSWORD });
    expect(first.mfaRequired).toBe(false);
    const enrolled = await mfa.enrollTotp({}, bearer(first.accessToken));
    expect(enrolled.otpauthUri).toMatch(/^otpauth:\/\/totp\//);
    await mfa.confirmTotp({ factorId: enrolled.factorId, code: totpCode(enrolled.secret, stepAt(t.clock.now())) }, bearer(first.accessToken));

    t.clock.advance(30);
    const second = await auth.login({ email: "tia@example.com", password: STRONG_PASSWORD });
    expect(second.mfaRequired).toBe(true);
    expect(second.accessToken).toBe("");
    const code = totpCode(enrolled.secret, stepAt(t.clock.now()));
    const done = await auth.verifyMFA({ challengeId: second.challengeId, code });
    expect(done.accessToken).not.toBe("");
    const payload = jwtClaims(done.accessToken);
    expect(payload.amr).toContain("mfa");
    expect(typeof payload.auth_time).toBe("number");

    const third = await auth.login({ email: "tia@example.com", password: STRONG_PASSWORD });
    await expect(auth.verifyMFA({ challengeId: third.challengeId, code })).rejects.toThrow(/invalid or expired code/);
  });
});

describe("an organization that requires MFA", () => {
  it("is reached only from sessions that passed a second factor", async () => {
    const auth = t.client(AuthService);
    const orgs = t.client(OrganizationService);
    const mfa = t.client(MfaService);
    await auth.register({ email: "oli@example.com", password: STRONG_PASSWORD });
    const login = await auth.login({ email: "oli@example.com", password: STRONG_PASSWORD });
    const { organization } = await orgs.createOrganization({ name: "Strict" }, bearer(login.accessToken));
    const id = organization!.id;
    const updated = await orgs.updateOrganization({ id, requireMfa: true }, bearer(login.accessToken));
    expect([updated.organization?.requireMfa, updated.organization?.name]).toEqual([true, "Strict"]);

    await expectError(orgs.getOrganization({ id }, bearer(login.accessToken)), Code.FailedPrecondition, "MFA_REQUIRED");

    const enrolled = await mfa.enrollTotp({}, bearer(login.accessToken));
    await mfa.confirmTotp({ factorId: enrolled.factorId, code: totpCode(enrolled.secret, stepAt(t.clock.now())) }, bearer(login.accessToken));
    t.clock.advance(30);
    expect((await mfa.validateTotp({ code: totpCode(enrolled.secret, stepAt(t.clock.now())) }, bearer(login.accessToken))).valid).toBe(true);
    expect((await orgs.getOrganization({ id }, bearer(login.accessToken))).organization?.requireMfa).toBe(true);
  });
});
