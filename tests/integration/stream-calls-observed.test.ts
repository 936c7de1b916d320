import { Writable } from "node:stream";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { createLogger } from "../../src/logger.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

const WATCH = "grpc.health.v1.Health/Watch";

/** A server stream is logged and counted when it ends, with how it ended, not when it opens. */
describe("server streams in the request log and the metrics", () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  let t: TestApp;
  let server: RunningServer;
  let health: Client<typeof Health>;
  // Served on a real port: a client that leaves must reach the server as a closed HTTP/2 stream.
  beforeAll(async () => {
    t = await createTestApp({}, { log: createLogger("info", sink) });
    server = await startServer(t.app, "127.0.0.1:0");
    health = createClient(Health, createConnectTransport({ baseUrl: server.url, httpVersion: "2" }));
  });
  afterAll(async () => {
    await server?.drain(200);
    await t?.close();
  });

  const watchLines = () => lines.filter((l) => l.msg === "rpc" && l.method === WATCH);
  const counted = async (code: string) => {
    const m = (await t.app.metrics.registry.getSingleMetric("warden_rpc_calls_total")!.get()).values.find(
      (v) => v.labels.method === WATCH && v.labels.code === code,
    );
    return m?.value ?? 0;
  };

  it("a Watch that runs into its deadline: one line with DeadlineExceeded and its real duration", async () => {
    const before = await counted("DeadlineExceeded");
    await expectError(
      (async () => {
        // The deadline as a header only: the server's clock ends the call, not the client giving up.
        for await (const _ of health.watch({ service: "" }, { headers: { "connect-timeout-ms": "400" } }));
      })(),
      Code.DeadlineExceeded,
    );
    await expect.poll(() => watchLines().length).toBe(1);
    expect(watchLines()[0]).toMatchObject({ code: "DeadlineExceeded" });
    expect(watchLines()[0]!.ms as number).toBeGreaterThanOrEqual(350);
    expect(await counted("DeadlineExceeded")).toBe(before + 1);
    expect((await t.app.metrics.registry.getSingleMetric("warden_rpc_in_flight")!.get()).values[0]!.value).toBe(0);
  });

  it("a Watch the client cancels: logged as Canceled when it goes, not as OK when it opened", async () => {
    const stop = new AbortController();
    const seen: unknown[] = [];
    const watching = (async () => {
      for await (const r of health.watch({ service: "" }, { signal: stop.signal })) {
        seen.push(r);
        stop.abort();
      }
    })();
    await expectError(watching, Code.Canceled);
    expect(seen).toHaveLength(1);
    await expect.poll(() => watchLines().length).toBe(2);
    expect(watchLines()[1]).toMatchObject({ code: "Canceled" });
    expect(watchLines().some((l) => l.code === "ok")).toBe(false);
  });
});
