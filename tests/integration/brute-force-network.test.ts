import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { expectFailure, expectRateLimited } from "../helpers/expect-error.js";
import { signUp } from "../helpers/mfa-world.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const NETWORK_MAX = 4;

// The in-memory transport has no socket: every call comes from the one "unknown" address.
describe("network brute-force budget (one client address)", () => {
  let t: TestApp;
  let auth: Client<typeof AuthService>;

  beforeAll(async () => {
    t = await createTestApp({ network_max_failures: NETWORK_MAX, login_max_failures: 100 }, { countHashes: true });
    auth = t.client(AuthService);
  });
  afterAll(async () => t?.close());

  it("stops a password spray across many accounts, before any hashing; successes do not count", async () => {
    const victim = await signUp(t, "spray-victim");
    const spray = (i: number) =>
      expectFailure(auth.login({ email: uniqueEmail(`spray${i}`), password: "spray-password-2024" }), Code.Unauthenticated, "INVALID_CREDENTIALS");
    for (let i = 1; i < NETWORK_MAX; i++) {
      await spray(i);
      // A good sign-in in between takes a point and gives it back.
      expect((await auth.login({ email: victim.email, password: STRONG_PASSWORD })).accessToken).not.toBe("");
    }
    await spray(NETWORK_MAX);
    const before = { ...t.hashes };
    await expectRateLimited(auth.login({ email: uniqueEmail("spray-next"), password: "spray-password-2024" }));
    await expectRateLimited(auth.login({ email: victim.email, password: STRONG_PASSWORD }));
    await expectRateLimited(auth.verifyCredentials({ email: victim.email, password: STRONG_PASSWORD }));
    await expectRateLimited(auth.authenticateLocal({ username: victim.email, password: STRONG_PASSWORD }));
    expect(t.hashes).toEqual(before);
    // Other credential kinds keep budgets of their own: a password spray does not spend them.
    await expectFailure(auth.verifyMFA({ challengeId: `mfa_${"A".repeat(32)}`, code: "123456" }), Code.Unauthenticated, "MFA_CHALLENGE_INVALID");
    await expectFailure(t.client(MfaService).listFactors({}, bearer(`wdn_k_${"A".repeat(64)}`)), Code.Unauthenticated, "API_KEY_INVALID");
    // Each account saw one failure only: the network budget, not the account budget, stopped it.
    expect(await t.app.hooks.limiter.consumed(victim.email)).toBe(0);
  });
});
