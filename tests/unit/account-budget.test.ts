import { describe, expect, it, vi } from "vitest";
import { DomainError } from "../../src/domain/errors.js";
import { BruteForce, RATE_CLASSES, type NetworkBudgets, type RateClass } from "../../src/domain/ratelimit/brute-force.js";

/** The engine with a tiny account budget and a one-second window (config allows 60 s at least). */
function engine(points: number, durationSeconds = 1): BruteForce {
  const network = Object.fromEntries(RATE_CLASSES.map((c): [RateClass, NetworkBudgets] => [c, { address: [], subnet: [] }])) as Record<
    RateClass,
    NetworkBudgets
  >;
  return new BruteForce({ account: { points, durationSeconds }, network, quotas: {} });
}

/** "ok", or the reason of the DomainError the engine refused with. */
async function verdict(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return (err as DomainError).reason;
  }
}

describe("BruteForce account budget", () => {
  it("takes exactly one point per parallel attempt and refuses the ones over budget", async () => {
    const e = engine(5, 60);
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => verdict(e.takeAccount("a@example.test"))));
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(5);
    expect(outcomes.filter((o) => o === "RATE_LIMITED")).toHaveLength(3);
    expect(await e.accountLocked("a@example.test")).toBe(true);
  });

  it("keeps accounts apart", async () => {
    const e = engine(1, 60);
    await e.takeAccount("a@example.test");
    expect(await verdict(e.takeAccount("a@example.test"))).toBe("RATE_LIMITED");
    expect(await verdict(e.takeAccount("b@example.test"))).toBe("ok");
  });

  it("gives the budget back after a success", async () => {
    const e = engine(2, 60);
    await e.takeAccount("a@example.test");
    await e.accountSucceeded("a@example.test");
    expect(await e.consumed("a@example.test")).toBe(0);
  });

  it("tells how long to wait, and lets the account in again once the window has passed", async () => {
    // rate-limiter-flexible reads Date.now() and expires its in-memory records with setTimeout: fake time moves both.
    vi.useFakeTimers();
    try {
      const e = engine(2, 1);
      await e.takeAccount("a@example.test");
      await e.takeAccount("a@example.test");
      const refused = await e.takeAccount("a@example.test").catch((err: DomainError) => err);
      expect(refused).toMatchObject({ kind: "resource_exhausted", reason: "RATE_LIMITED" });
      expect((refused as DomainError).extra.retryAfterSeconds).toBe(1);
      vi.advanceTimersByTime(999);
      expect(await e.accountLocked("a@example.test"), "a millisecond before the window ends").toBe(true);
      vi.advanceTimersByTime(1);
      expect(await e.accountLocked("a@example.test"), "when the window ends").toBe(false);
      expect(await verdict(e.takeAccount("a@example.test"))).toBe("ok");
    } finally {
      vi.useRealTimers();
    }
  });
});
