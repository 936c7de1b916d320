import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { expectFailure, expectRateLimited, settleAll } from "../helpers/expect-error.js";
import { signUp, signUpWithTotp, startChallenge, totpAt, wrongTotp } from "../helpers/mfa-world.js";
import { createTestApp, IN_MEMORY_ADDRESS, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const MAX_FAILURES = 10;
const WINDOW_SECONDS = 900;
const WRONG = "not-the-password-1234";

describe("account brute-force budget", () => {
  let t: TestApp;
  let auth: Client<typeof AuthService>;

  beforeAll(async () => {
    // The network budgets are tested elsewhere: here every failure comes from one in-memory address.
    t = await createTestApp(
      {
        login_max_failures: MAX_FAILURES,
        login_failure_window: WINDOW_SECONDS,
        network_max_failures: 100_000,
        subnet_max_failures: 1_000_000,
      },
      { countHashes: true },
    );
    auth = t.client(AuthService);
  });
  afterAll(async () => t?.close());

  const wrongLogins = (email: string, n: number, spell = (e: string, _i: number) => e) =>
    settleAll(Array.from({ length: n }, (_, i) => auth.login({ email: spell(email, i), password: WRONG })));

  /** Asserts the calls hashed nothing. */
  async function withoutHashing(run: () => Promise<void>): Promise<void> {
    const before = { ...t.hashes };
    await run();
    expect(t.hashes).toEqual(before);
  }

  it("counts N parallel wrong passwords exactly N, under every spelling of the email", async () => {
    const m = await signUp(t, "parallel");
    const verifiesBefore = t.hashes.verify;
    const spellings = [(e: string) => e, (e: string) => e.toUpperCase(), (e: string) => `  ${e}`, (e: string) => e.replace(/^./, (c) => c.toUpperCase())];
    const r = await wrongLogins(m.email, 8, (e, i) => spellings[i % spellings.length]!(e));
    expect(r.ok).toHaveLength(0);
    expect(r.failures.map((f) => f.reason)).toEqual(Array(8).fill("INVALID_CREDENTIALS"));
    expect(await t.app.hooks.limiter.consumed(m.email)).toBe(8);
    expect(t.hashes.verify - verifiesBefore).toBe(8);

    // A success gives the account its budget back.
    expect((await auth.login({ email: m.email, password: STRONG_PASSWORD })).accessToken).not.toBe("");
    expect(await t.app.hooks.limiter.consumed(m.email)).toBe(0);
  });

  it("counts an unknown account the same way, with a dummy hash per attempt", async () => {
    const email = uniqueEmail("ghost");
    const before = t.hashes.verifyDummy;
    const r = await wrongLogins(email, 8);
    expect(r.failures.map((f) => f.reason)).toEqual(Array(8).fill("INVALID_CREDENTIALS"));
    expect(await t.app.hooks.limiter.consumed(email)).toBe(8);
    expect(t.hashes.verifyDummy - before).toBe(8);
  });

  it("lets exactly the budget through when more attempts than it race", async () => {
    const m = await signUp(t, "race");
    const before = t.hashes.verify;
    const r = await wrongLogins(m.email, MAX_FAILURES + 5);
    expect(r.failures.filter((f) => f.reason === "INVALID_CREDENTIALS")).toHaveLength(MAX_FAILURES);
    expect(r.failures.filter((f) => f.reason === "RATE_LIMITED")).toHaveLength(5);
    expect(t.hashes.verify - before).toBe(MAX_FAILURES);
  });

  it("refuses over the limit with RATE_LIMITED and a retry-after hint, before any hashing", async () => {
    const m = await signUp(t, "limit");
    const ghost = uniqueEmail("ghost-limit");
    for (let i = 0; i < MAX_FAILURES; i++) {
      await expectFailure(auth.login({ email: m.email, password: WRONG }), Code.Unauthenticated, "INVALID_CREDENTIALS");
      await expectFailure(auth.login({ email: ghost, password: WRONG }), Code.Unauthenticated, "INVALID_CREDENTIALS");
    }
    await withoutHashing(async () => {
      const f = await expectRateLimited(auth.login({ email: m.email, password: STRONG_PASSWORD }));
      expect(f.retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
      await expectRateLimited(auth.login({ email: ghost, password: WRONG }));
    });
  });

  it("gives an address locked out of an account no token from any password or second-factor path", async () => {
    // Before the lock: a password session (with its refresh token) and a pending MFA challenge.
    const m = await signUpWithTotp(t, "locked");
    const { challengeId } = await startChallenge(auth, m.email);
    await wrongLogins(m.email, MAX_FAILURES);
    expect(await t.app.hooks.limiter.accountLocked(m.email, IN_MEMORY_ADDRESS)).toBe(true);

    await withoutHashing(async () => {
      await expectRateLimited(auth.login({ email: m.email, password: STRONG_PASSWORD }));
      await expectRateLimited(auth.authenticateLocal({ username: m.email, password: STRONG_PASSWORD }));
      await expectRateLimited(auth.verifyCredentials({ email: m.email, password: STRONG_PASSWORD }));
      await expectRateLimited(auth.verifyMFA({ challengeId, code: totpAt(m.secret, t.clock) }));
    });
    // Password failures say nothing about a session that existed before: its refresh goes on.
    await expect(auth.refresh({ refreshToken: m.refreshToken })).resolves.toMatchObject({ accessToken: expect.any(String) });
  });

  it("counts wrong second-factor codes against the same account budget", async () => {
    const m = await signUpWithTotp(t, "otp-budget");
    const mfa = t.client(MfaService);
    // Each successful password check resets the budget, so both challenges come first.
    const first = await startChallenge(auth, m.email);
    const second = await startChallenge(auth, m.email);
    for (const [i, challengeId] of [
      first.challengeId,
      first.challengeId,
      first.challengeId,
      first.challengeId,
      second.challengeId,
      second.challengeId,
      second.challengeId,
      second.challengeId,
    ].entries())
      await expectFailure(auth.verifyMFA({ challengeId, code: wrongTotp(m.secret, t.clock, i) }), Code.Unauthenticated, "MFA_CODE_INVALID");
    expect(await t.app.hooks.limiter.consumed(m.email)).toBe(8);
    expect((await mfa.validateTotp({ code: wrongTotp(m.secret, t.clock, 9) }, m.h)).valid).toBe(false);
    expect(await t.app.hooks.limiter.consumed(m.email)).toBe(9);
    await expectFailure(auth.login({ email: m.email, password: WRONG }), Code.Unauthenticated);

    await expectRateLimited(auth.verifyMFA({ challengeId: second.challengeId, code: totpAt(m.secret, t.clock) }));
    await expectRateLimited(mfa.validateTotp({ code: totpAt(m.secret, t.clock) }, m.h));
    await expectRateLimited(auth.login({ email: m.email, password: STRONG_PASSWORD }));
  });
});
