import { beforeEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../../src/crypto/random.js";
import { MFA_CHALLENGE_TTL_SECONDS, mfaChallengeKey } from "../../../src/domain/auth/sign-in.js";
import { PASSWORD, enrollTotp, meta, signInTokens, signUp, userPrincipal } from "./fakes/actors.js";
import { expectDomainError } from "./fakes/domain-error.js";
import { createWorld, type World } from "./fakes/world.js";

const WRONG = "not-the-password-at-all";

describe("password sign-in", () => {
  let w: World;
  // A small account budget, so that spending it takes three attempts.
  beforeEach(async () => {
    w = await createWorld({ login_max_failures: 3 });
  });

  it("opens a session with a right password and records auth.login with it, all from one createWithAudit call", async () => {
    const { user, email } = await signUp(w, "right");
    const callsBefore = w.store.calls.length;
    const result = await signInTokens(w, email);
    const now = w.clock.now();

    expect([...w.store.tables.sessions.values()]).toEqual([
      expect.objectContaining({ id: result.session.id, userId: user.id, authMethod: "password", createdAt: now, revokedAt: null, mfaAt: null }),
    ]);
    expect(w.store.tables.refreshTokens.get(sha256Hex(result.refreshToken))).toMatchObject({ sessionId: result.session.id, generation: 1, usedAt: null });
    expect(w.store.audited("auth.login")).toEqual([
      expect.objectContaining({
        outcome: "success",
        actorId: user.id,
        targetType: "session",
        targetId: result.session.id,
        occurredAt: now,
        details: { method: "password", amr: "pwd" },
      }),
    ]);
    // The three rows came from a single port call: no separate insert or audit append.
    const calls = w.store.calls.slice(callsBefore);
    expect(calls.filter((c) => c === "sessions.createWithAudit")).toHaveLength(1);
    expect(calls).not.toContain("audit.append");

    // What the caller got works: the bearer names the live session, the access token its id.
    expect((await w.sessions.requireLiveBearer(result.sessionBearer)).user.id).toBe(user.id);
    expect(await w.tokens.verify(result.accessToken, "access")).toMatchObject({ sub: user.id, sid: result.session.id, amr: ["pwd"] });
  });

  it("leaves no session, no refresh token and no auth.login event when createWithAudit fails", async () => {
    const { email } = await signUp(w, "fault");
    w.store.failNext("sessions", "createWithAudit", new Error("connection reset"));

    await expect(w.auth.login(email, PASSWORD, meta)).rejects.toThrow("connection reset");
    expect(w.store.tables.sessions.size).toBe(0);
    expect(w.store.tables.refreshTokens.size).toBe(0);
    expect(w.store.audited("auth.login")).toEqual([]);

    // The fault was one call only: the next sign-in gets its session and its event.
    const ok = await signInTokens(w, email);
    expect(w.store.tables.sessions.size).toBe(1);
    expect(w.store.audited("auth.login").map((e) => e.targetId)).toEqual([ok.session.id]);
  });

  it("answers a wrong password and an unknown email alike, audits both, and spends one dummy verification on the unknown email", async () => {
    const { user, email } = await signUp(w, "victim");

    const before = { ...w.hasher.counts };
    const wrong = await expectDomainError(w.auth.login(email, WRONG, meta), "unauthenticated", "INVALID_CREDENTIALS");
    expect(w.hasher.counts).toEqual({ ...before, verify: before.verify + 1 });

    const mid = { ...w.hasher.counts };
    const unknown = await expectDomainError(w.auth.login("nobody@example.test", WRONG, meta), "unauthenticated", "INVALID_CREDENTIALS");
    // Exactly one argon2 verification against the dummy hash: the same cost, nothing else.
    expect(w.hasher.counts).toEqual({ ...mid, verifyDummy: mid.verifyDummy + 1 });
    expect(unknown.message).toBe(wrong.message);

    const failures = w.store.audited("auth.login");
    expect(failures).toEqual([
      expect.objectContaining({ outcome: "failure", actorId: user.id, details: expect.objectContaining({ reason: "bad_credentials" }) }),
      expect.objectContaining({ outcome: "failure", actorId: "", details: expect.objectContaining({ reason: "bad_credentials" }) }),
    ]);
    expect(w.store.tables.sessions.size).toBe(0);
  });

  it("refuses a disabled user's right password with the same INVALID_CREDENTIALS", async () => {
    const { user, email } = await signUp(w, "disabled");
    await w.store.users.update(user.id, { disabled: true }, w.clock.now());

    await expectDomainError(w.auth.login(email, PASSWORD, meta), "unauthenticated", "INVALID_CREDENTIALS");
    expect(w.store.audited("auth.login")).toEqual([
      expect.objectContaining({ outcome: "failure", actorId: user.id, details: expect.objectContaining({ reason: "user_disabled" }) }),
    ]);
    expect(w.store.tables.sessions.size).toBe(0);
  });

  it("stops at an MFA challenge, with no session, for a user with a confirmed second factor", async () => {
    const { user, email } = await signUp(w, "mfa");
    await enrollTotp(w, user);

    const result = await w.auth.login(email, PASSWORD, meta);
    expect(result).toMatchObject({ kind: "mfa", methods: ["totp"] });
    const challengeId = result.kind === "mfa" ? result.challengeId : "";
    expect(w.store.tables.mfaChallenges.get(mfaChallengeKey(challengeId))).toMatchObject({
      userId: user.id,
      usedAt: null,
      expiresAt: new Date(w.clock.now().getTime() + MFA_CHALLENGE_TTL_SECONDS * 1000),
    });
    expect(w.store.tables.sessions.size).toBe(0);
    expect(w.store.callCount("sessions.createWithAudit")).toBe(0);
    expect(w.store.audited("auth.mfa_challenge")).toHaveLength(1);
    expect(w.store.audited("auth.login")).toEqual([]);
  });

  it("ignores an authenticator that was enrolled but never confirmed", async () => {
    const { user, email } = await signUp(w, "unconfirmed");
    await w.factors.enrollTotp(userPrincipal(user), meta);

    const result = await signInTokens(w, email);
    expect(result.session.userId).toBe(user.id);
  });

  it("counts failures against the account and, once the budget is spent, refuses with RATE_LIMITED before any lookup or hashing", async () => {
    const { email } = await signUp(w, "budget");
    for (let i = 0; i < 3; i++) await expectDomainError(w.auth.login(email, WRONG, meta), "unauthenticated", "INVALID_CREDENTIALS");

    const hashing = { ...w.hasher.counts };
    const lookups = w.store.callCount("users.findByEmailForSignIn");
    // Even the right password: the budget is checked first.
    const refused = await expectDomainError(w.auth.login(email, PASSWORD, meta), "resource_exhausted", "RATE_LIMITED");
    expect(refused.extra.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(w.hasher.counts).toEqual(hashing);
    expect(w.store.callCount("users.findByEmailForSignIn")).toBe(lookups);
    expect(w.store.tables.sessions.size).toBe(0);
  });

  it("limits an unknown email the same way (the budget is per email, not per user)", async () => {
    for (let i = 0; i < 3; i++) await expectDomainError(w.auth.login("ghost@example.test", WRONG, meta), "unauthenticated", "INVALID_CREDENTIALS");
    const hashing = { ...w.hasher.counts };

    await expectDomainError(w.auth.login("ghost@example.test", WRONG, meta), "resource_exhausted", "RATE_LIMITED");
    expect(w.hasher.counts).toEqual(hashing);
  });

  it("gives the budget back after a successful sign-in", async () => {
    const { email } = await signUp(w, "refund");
    for (let i = 0; i < 2; i++) await expectDomainError(w.auth.login(email, WRONG, meta), "unauthenticated", "INVALID_CREDENTIALS");
    await signInTokens(w, email);

    // Two more failures fit again; a budget that was not reset would refuse the second.
    for (let i = 0; i < 2; i++) await expectDomainError(w.auth.login(email, WRONG, meta), "unauthenticated", "INVALID_CREDENTIALS");
    expect(await w.limiter.consumed(email)).toBe(2);
  });
});
