import { describe, expect, it } from "vitest";
import { decodeInvalidation, encodeInvalidation, InvalidationBus, type NotificationChannel } from "../../src/domain/invalidation.js";

/** Two buses on one in-memory channel stand for two server instances on one database. */
function sharedChannel(): NotificationChannel & { sent: string[] } {
  const listeners: ((payload: string) => void)[] = [];
  const sent: string[] = [];
  return {
    sent,
    async listen(_channel, onMessage) {
      listeners.push(onMessage);
    },
    async notify(_channel, payload) {
      sent.push(payload);
      for (const l of listeners) l(payload);
    },
  };
}

const quiet = { warn: () => {} };

describe("invalidation topics", () => {
  it("round-trips every topic, ids with colons included", () => {
    for (const topic of ["session", "user", "org", "api_key", "service_account", "role"] as const)
      expect(decodeInvalidation(encodeInvalidation({ topic, id: "a:b" }))).toEqual({ topic, id: "a:b" });
  });

  it("ignores payloads that are not ours", () => {
    for (const payload of ["", "session", ":id", "sessions:1", "nonsense:1", "SESSION:1"]) expect(decodeInvalidation(payload), payload).toBeUndefined();
  });

  it("delivers a change to this instance at once and to the other one through the channel, by topic", async () => {
    const channel = sharedChannel();
    const [a, b] = [new InvalidationBus(channel, quiet), new InvalidationBus(channel, quiet)];
    await Promise.all([a.start(), b.start()]);
    const seen: string[] = [];
    b.on("role", (id) => seen.push(`role:${id}`));
    b.on("user", (id) => seen.push(`user:${id}`));
    await a.publish([
      { topic: "role", id: "auditor" },
      { topic: "session", id: "s1" },
    ]);
    expect(seen).toEqual(["role:auditor"]);
    expect(channel.sent).toEqual(["role:auditor", "session:s1"]);
  });

  it("a channel that fails to notify does not fail the change (it is logged)", async () => {
    const warnings: string[] = [];
    const bus = new InvalidationBus(
      { listen: async () => {}, notify: async () => Promise.reject(new Error("down")) },
      { warn: (_o, msg) => warnings.push(msg) },
    );
    const seen: string[] = [];
    bus.on("session", (id) => seen.push(id));
    await bus.publish([{ topic: "session", id: "s1" }]);
    expect([seen, warnings]).toEqual([["s1"], ["invalidation notify failed"]]);
  });
});
