import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { errorOf, expectError, expectRateLimited } from "../helpers/expect-error.js";
import { useServedApp } from "../helpers/served-app.js";
import { bearer, STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const PER_ADDRESS = 3;
const PER_ACCOUNT = 8;
const WRONG = "surely-not-the-password-9071";

/**
 * Lockout as denial of service: failed passwords must not keep the owner out. Failures count per
 * account and address (PER_ADDRESS) and per account overall (PER_ACCOUNT); past the overall
 * budget only networks the owner signed in from before may try. Brute force stays bounded.
 */
describe("an attacker cannot keep the owner out with wrong passwords (lockout as DoS)", () => {
  const served = useServedApp({ login_max_failures: PER_ADDRESS, account_max_failures: PER_ACCOUNT });
  const auth = (address: string) => served().from(AuthService, address);

  async function victim(home: string) {
    const email = uniqueEmail("victim");
    await auth(home).register({ email, password: STRONG_PASSWORD, displayName: "" });
    const login = await auth(home).login({ email, password: STRONG_PASSWORD });
    return { email, login };
  }

  it("an attacking address runs out of tries at the account; the owner's own address does not", async () => {
    const { email } = await victim("198.51.100.10");
    for (let i = 0; i < PER_ADDRESS; i++)
      await expectError(auth("203.0.113.66").login({ email, password: WRONG }), Code.Unauthenticated, "INVALID_CREDENTIALS");
    // The attacker is stopped, even with the right password, before any hashing.
    await expectRateLimited(auth("203.0.113.66").login({ email, password: STRONG_PASSWORD }));
    // The owner, elsewhere, signs in.
    expect((await auth("198.51.100.10").login({ email, password: STRONG_PASSWORD })).accessToken).not.toBe("");
  });

  it("addresses rotated through many networks spend the account's overall budget; then only the owner's known networks may try", async () => {
    const { email, login } = await victim("192.0.2.10");
    const attackers = Array.from({ length: 20 }, (_, i) => `203.0.${113 + i}.${i + 1}`);
    let guesses = 0;
    let refused = 0;
    for (const address of attackers) {
      const err = await errorOf(auth(address).login({ email, password: WRONG }));
      if (err?.code === Code.Unauthenticated) guesses++;
      else if (err?.code === Code.ResourceExhausted) refused++;
    }
    // Brute force stays bounded: no more password guesses than the overall budget.
    expect(guesses).toBe(PER_ACCOUNT);
    expect(refused).toBe(attackers.length - PER_ACCOUNT);
    const unknown = await expectRateLimited(auth("100.64.0.9").login({ email, password: STRONG_PASSWORD }));
    expect(unknown.metadata.budget).toBe("account");
    // The owner's network (the /24 they signed in from) still may, and so may a neighbour in it.
    expect((await auth("192.0.2.10").login({ email, password: STRONG_PASSWORD })).accessToken).not.toBe("");
    expect((await auth("192.0.2.77").login({ email, password: STRONG_PASSWORD })).accessToken).not.toBe("");
    // Sessions from before keep working and keep refreshing: a password attack touches no session.
    const session = served().from(SessionService, "192.0.2.10");
    expect((await session.validateSession({}, bearer(login.accessToken))).valid).toBe(true);
    expect((await auth("192.0.2.10").refresh({ refreshToken: login.refreshToken })).accessToken).not.toBe("");
  });

  it("a refresh of an existing session is not blocked by the owner's address having spent its tries", async () => {
    const { email, login } = await victim("198.51.100.20");
    for (let i = 0; i < PER_ADDRESS; i++) await expectError(auth("198.51.100.20").login({ email, password: WRONG }), Code.Unauthenticated);
    await expectRateLimited(auth("198.51.100.20").login({ email, password: STRONG_PASSWORD }));
    expect((await auth("198.51.100.20").refresh({ refreshToken: login.refreshToken })).refreshToken).not.toBe("");
  });
});
