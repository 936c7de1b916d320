import { describe, expect, it, vi } from "vitest";
import { DomainError } from "../../src/domain/errors.js";
import { BruteForce, RATE_CLASSES, type NetworkBudgets, type RateClass } from "../../src/domain/ratelimit/brute-force.js";

/** The engine with tiny account budgets: `perAddress` failures from one address, `overall` from all of them. */
function engine(perAddress: number, overall: number, durationSeconds = 60): BruteForce {
  const network = Object.fromEntries(RATE_CLASSES.map((c): [RateClass, NetworkBudgets] => [c, { address: [], subnet: [] }])) as Record<
    RateClass,
    NetworkBudgets
  >;
  return new BruteForce({
    accountAddress: { points: perAddress, durationSeconds },
    account: { points: overall, durationSeconds },
    network,
    quotas: {},
  });
}

/** "ok", or the reason of the DomainError the engine refused with (and its budget, when it names one). */
async function verdict(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    const e = err as DomainError;
    const budget = e.extra.metadata?.budget;
    return budget ? `${e.reason}:${budget}` : e.reason;
  }
}

const A = "a@example.test";
const attacker = "198.51.100.7";
const owner = "203.0.113.20";

describe("BruteForce account budgets", () => {
  it("takes exactly one point per parallel attempt and refuses the ones over the address's budget", async () => {
    const e = engine(5, 100);
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => verdict(e.takeAccount(A, attacker))));
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(5);
    expect(outcomes.filter((o) => o === "RATE_LIMITED")).toHaveLength(3);
    expect(await e.accountLocked(A, attacker)).toBe(true);
  });

  it("keeps accounts apart, and addresses apart at one account", async () => {
    const e = engine(1, 100);
    await e.takeAccount(A, attacker);
    expect(await verdict(e.takeAccount(A, attacker))).toBe("RATE_LIMITED");
    expect(await verdict(e.takeAccount("b@example.test", attacker))).toBe("ok");
    // The attacker's address spent its budget; the owner's address did not.
    expect(await e.accountLocked(A, owner)).toBe(false);
    expect(await verdict(e.takeAccount(A, owner))).toBe("ok");
  });

  it("past the overall budget refuses new networks as under attack, and lets known networks try", async () => {
    const e = engine(10, 3);
    // Three addresses each fail once: the overall budget is spent.
    for (const ip of ["198.51.100.1", "198.51.101.1", "198.51.102.1"]) expect(await verdict(e.takeAccount(A, ip))).toBe("ok");
    expect(await verdict(e.takeAccount(A, "198.51.103.1", { knownNetwork: async () => false }))).toBe("RATE_LIMITED:account");
    expect(await verdict(e.takeAccount(A, "198.51.103.1"))).toBe("RATE_LIMITED:account");
    // A refusal as under attack does not spend the address's own budget.
    expect(await e.accountLocked(A, "198.51.103.1")).toBe(false);
    expect(await verdict(e.takeAccount(A, owner, { knownNetwork: async () => true }))).toBe("ok");
  });

  it("gives the budgets back after a success", async () => {
    const e = engine(2, 100);
    await e.takeAccount(A, owner);
    await e.takeAccount(A, attacker);
    await e.accountSucceeded(A, owner);
    expect(await e.consumed(A)).toBe(0);
    expect(await e.accountLocked(A, attacker), "another address's own count stays").toBe(false);
  });

  it("refunds an attempt that a fault cut short, at both levels", async () => {
    const e = engine(1, 100);
    await e.takeAccount(A, owner);
    expect(await e.consumed(A)).toBe(1);
    await e.accountRefund(A, owner);
    expect(await e.consumed(A)).toBe(0);
    expect(await verdict(e.takeAccount(A, owner))).toBe("ok");
  });

  it("refunds and fails closed when the known-network lookup fails", async () => {
    const e = engine(5, 1);
    await e.takeAccount(A, "198.51.100.1");
    const err = await e.takeAccount(A, owner, { knownNetwork: () => Promise.reject(new Error("database down")) }).catch((x: Error) => x);
    expect((err as Error).message).toBe("database down");
    expect(await e.accountLocked(A, owner)).toBe(false);
  });

  it("tells how long to wait, and lets the address in again once the window has passed", async () => {
    // rate-limiter-flexible reads Date.now() and expires its in-memory records with setTimeout: fake time moves both.
    vi.useFakeTimers();
    try {
      const e = engine(2, 100, 1);
      await e.takeAccount(A, attacker);
      await e.takeAccount(A, attacker);
      const refused = await e.takeAccount(A, attacker).catch((err: DomainError) => err);
      expect(refused).toMatchObject({ kind: "resource_exhausted", reason: "RATE_LIMITED" });
      expect((refused as DomainError).extra.retryAfterSeconds).toBe(1);
      vi.advanceTimersByTime(999);
      expect(await e.accountLocked(A, attacker), "a millisecond before the window ends").toBe(true);
      vi.advanceTimersByTime(1);
      expect(await e.accountLocked(A, attacker), "when the window ends").toBe(false);
      expect(await verdict(e.takeAccount(A, attacker))).toBe("ok");
    } finally {
      vi.useRealTimers();
    }
  });
});
