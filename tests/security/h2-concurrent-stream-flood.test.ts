import { afterEach, describe, expect, it } from "vitest";
import { grpcClient, grpcUnary } from "../helpers/e2e-clients.js";
import { useServerProcess } from "../helpers/server-process.js";
import { H2_ERROR, headersFrames, openRawH2, postHeaders, SETTING, type RawH2 } from "./support/raw-h2.js";

/**
 * Attack: one HTTP/2 connection opens far more half-open streams (HEADERS, never a body) than
 * the server allows, all in one burst before the server's SETTINGS could slow it down. Each
 * accepted stream holds a handler waiting for its body; with no limit, tens of thousands of
 * them exhausted memory and starved other clients.
 */
const STREAMS = 1000;
const DEFAULT_LIMIT = 100;

describe("HTTP/2: a flood of half-open streams on one connection (default settings)", () => {
  const server = useServerProcess();
  let attacker: RawH2 | undefined;
  afterEach(() => attacker?.close());

  it(`advertises SETTINGS_MAX_CONCURRENT_STREAMS ${DEFAULT_LIMIT} and refuses the streams beyond it, while another client is served`, async () => {
    attacker = await openRawH2(server().port);
    const ids = Array.from({ length: STREAMS }, (_, i) => 1 + 2 * i);
    // One write: every HEADERS frame is on the wire before the server's SETTINGS could be read.
    await attacker.send(Buffer.concat(ids.map((id) => headersFrames(id, postHeaders("/warden.auth.v1.AuthService/Login")))));

    const a = attacker;
    const refused = () => ids.filter((id) => a.resets.get(id) === H2_ERROR.REFUSED_STREAM || id > (a.goaway()?.lastStreamId ?? Infinity));
    await a.waitUntil(() => refused().length >= STREAMS - DEFAULT_LIMIT, 20_000);

    // Another client on its own connection is served while the attacker's streams are open.
    const health = grpcClient(server().address, "grpc.health.v1.Health");
    try {
      expect(await grpcUnary(health, "Check", { service: "" }, { deadlineMs: 15_000 })).toEqual({ status: "SERVING" });
    } finally {
      health.close();
    }

    const taken = STREAMS - refused().length;
    expect(taken, "streams the server took on").toBeLessThanOrEqual(DEFAULT_LIMIT);
    expect(refused().length).toBeGreaterThanOrEqual(STREAMS - DEFAULT_LIMIT);
    expect(a.settings.get(SETTING.MAX_CONCURRENT_STREAMS)).toBe(DEFAULT_LIMIT);
    expect(server().child.exitCode).toBeNull();
  });

  it("a well-behaved client (grpc-js) with more calls than the limit is queued, not refused", async () => {
    const health = grpcClient(server().address, "grpc.health.v1.Health");
    try {
      const calls = Array.from({ length: DEFAULT_LIMIT + 50 }, () => grpcUnary(health, "Check", { service: "" }, { deadlineMs: 30_000 }));
      const results = await Promise.allSettled(calls);
      expect(results.filter((r) => r.status === "rejected").map((r) => (r as PromiseRejectedResult).reason?.code)).toEqual([]);
    } finally {
      health.close();
    }
  });
});
