import { beforeEach, describe, expect, it } from "vitest";
import { MFA_CHALLENGE_TTL_SECONDS, mfaChallengeKey } from "../../../src/domain/auth/sign-in.js";
import { MAX_CHALLENGE_FAILURES } from "../../../src/domain/mfa/mfa-verification.js";
import { TOTP_STEP_SECONDS } from "../../../src/domain/mfa/totp.js";
import type { UserRow } from "../../../src/domain/records.js";
import { currentCode, enrollTotp, meta, signInChallenge, signUp, userPrincipal, wrongCode } from "./fakes/actors.js";
import { expectDomainError } from "./fakes/domain-error.js";
import { createWorld, type World } from "./fakes/world.js";

describe("an MFA challenge", () => {
  let w: World;
  let user: UserRow;
  let email: string;
  let secret: string;

  const verify = (challengeId: string, code: string) => w.verification.verify(challengeId, code, meta);

  beforeEach(async () => {
    w = await createWorld();
    ({ user, email } = await signUp(w, "mfa"));
    ({ secret } = await enrollTotp(w, user));
  });

  it("answers once: a second VerifyMFA with a right code is refused (MFA_CHALLENGE_INVALID)", async () => {
    const { challengeId } = await signInChallenge(w, email);
    const tokens = await verify(challengeId, currentCode(w, secret));
    expect(tokens.session).toMatchObject({ userId: user.id, mfaAt: w.clock.now() });
    expect(await w.tokens.verify(tokens.accessToken, "access")).toMatchObject({ amr: ["pwd", "mfa", "otp"] });

    // A fresh code of the next step: what is refused is the challenge, not a replayed code.
    w.clock.advance(TOTP_STEP_SECONDS);
    await expectDomainError(verify(challengeId, currentCode(w, secret)), "unauthenticated", "MFA_CHALLENGE_INVALID");
    expect(w.store.tables.sessions.size).toBe(1);
  });

  it(`dies after ${MAX_CHALLENGE_FAILURES} wrong codes, even for the right code next`, async () => {
    const { challengeId } = await signInChallenge(w, email);
    for (let i = 0; i < MAX_CHALLENGE_FAILURES; i++) await expectDomainError(verify(challengeId, wrongCode(w, secret)), "unauthenticated", "MFA_CODE_INVALID");
    expect(w.store.tables.mfaChallenges.get(mfaChallengeKey(challengeId))).toMatchObject({ failedAttempts: MAX_CHALLENGE_FAILURES, usedAt: w.clock.now() });

    await expectDomainError(verify(challengeId, currentCode(w, secret)), "unauthenticated", "MFA_CHALLENGE_INVALID");
    expect(w.store.tables.sessions.size).toBe(0);
  });

  it(`survives ${MAX_CHALLENGE_FAILURES - 1} wrong codes`, async () => {
    const { challengeId } = await signInChallenge(w, email);
    for (let i = 0; i < MAX_CHALLENGE_FAILURES - 1; i++)
      await expectDomainError(verify(challengeId, wrongCode(w, secret)), "unauthenticated", "MFA_CODE_INVALID");

    const tokens = await verify(challengeId, currentCode(w, secret));
    expect(tokens.session.userId).toBe(user.id);
  });

  it(`expires ${MFA_CHALLENGE_TTL_SECONDS} s after it was issued`, async () => {
    const { challengeId } = await signInChallenge(w, email);
    w.clock.advance(MFA_CHALLENGE_TTL_SECONDS + 1);

    await expectDomainError(verify(challengeId, currentCode(w, secret)), "unauthenticated", "MFA_CHALLENGE_INVALID");
    expect(w.store.tables.sessions.size).toBe(0);
  });

  it("still works a second before it expires", async () => {
    const { challengeId } = await signInChallenge(w, email);
    w.clock.advance(MFA_CHALLENGE_TTL_SECONDS - 1);

    const tokens = await verify(challengeId, currentCode(w, secret));
    expect(tokens.session.userId).toBe(user.id);
  });

  it("accepts a recovery code once", async () => {
    const codes = await w.factors.generateRecoveryCodes(userPrincipal(user), meta);

    const first = await signInChallenge(w, email);
    expect(first.methods).toEqual(["totp", "recovery_code"]);
    const tokens = await verify(first.challengeId, codes[0]!);
    expect(await w.tokens.verify(tokens.accessToken, "access")).toMatchObject({ amr: ["pwd", "mfa", "rec"] });

    const second = await signInChallenge(w, email);
    await expectDomainError(verify(second.challengeId, codes[0]!), "unauthenticated", "MFA_CODE_INVALID");
    expect(await w.store.mfa.remainingRecoveryCodes(user.id)).toBe(codes.length - 1);
    // The refused code cost the challenge one failure, not its life: another code still answers it.
    await verify(second.challengeId, codes[1]!);
    expect(await w.store.mfa.remainingRecoveryCodes(user.id)).toBe(codes.length - 2);
  });
});
