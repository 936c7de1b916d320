import { describe, expect, it } from "vitest";
import { DomainError } from "../../src/domain/errors.js";
import { withIdleLimit } from "../../src/handlers/recording.js";

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

describe("a recording stream's idle bound", () => {
  it("passes messages that come in time, however long the consumer takes", async () => {
    async function* steady() {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 10));
        yield i;
      }
    }
    const seen: number[] = [];
    for await (const v of withIdleLimit(steady(), 100)) {
      seen.push(v);
      // The consumer's own time (a database write) does not count against the bound.
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(seen).toEqual([0, 1, 2]);
  });

  it("ends a stream whose next message does not come within the bound (DEADLINE_EXCEEDED)", async () => {
    async function* stalls() {
      yield 1;
      await new Promise(() => {});
    }
    const err = await collect(withIdleLimit(stalls(), 50)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).kind).toBe("deadline_exceeded");
  });
});
