import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DeadlineSweeper } from "../../src/deadline-sweeper.js";

describe("DeadlineSweeper", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "performance"] }));
  afterEach(() => vi.useRealTimers());

  it("fires a deadline once, at most one tick after it passed, and never a cancelled one", () => {
    const sweeper = new DeadlineSweeper(100);
    const fired: string[] = [];
    const a = {};
    const b = {};
    sweeper.add(a, 250, () => fired.push("a"));
    sweeper.add(b, 250, () => fired.push("b"));
    sweeper.cancel(b);
    vi.advanceTimersByTime(200);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(["a"]);
    vi.advanceTimersByTime(1000);
    expect(fired).toEqual(["a"]);
  });

  it("stops its timer once nothing is pending, and starts it again for the next deadline", () => {
    const sweeper = new DeadlineSweeper(100);
    const fired: number[] = [];
    sweeper.add({}, 50, () => fired.push(1));
    vi.advanceTimersByTime(100);
    expect(vi.getTimerCount()).toBe(0);
    sweeper.add({}, 50, () => fired.push(2));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([1, 2]);
  });
});
