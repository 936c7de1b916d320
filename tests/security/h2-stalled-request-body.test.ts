import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { grpcClient } from "../helpers/e2e-clients.js";
import { useServerProcess } from "../helpers/server-process.js";
import { FRAME, frame, openRawH2, postHeaders, type RawH2 } from "./support/raw-h2.js";
import { sleep } from "./support/raw-socket.js";

/**
 * Attack: HTTP/2 streams whose request body stops arriving (or arrives a byte at a time), each
 * holding a handler that waits for it. With stream_idle_timeout 1 s and request_body_timeout
 * 3 s, the server resets them; a server-streaming call whose request is complete may stay
 * quiet as long as it likes.
 */
const LOGIN = "/warden.auth.v1.AuthService/Login";

describe("HTTP/2: request bodies that stall or trickle (stream_idle_timeout 1s, request_body_timeout 3s)", () => {
  const server = useServerProcess(() => ({ env: { WARDEN_STREAM_IDLE_TIMEOUT: "1", WARDEN_REQUEST_BODY_TIMEOUT: "3" } }));
  let client: RawH2 | undefined;
  afterEach(() => client?.close());

  it("resets every stream whose body never comes", async () => {
    client = await openRawH2(server().port);
    const c = client;
    const ids = Array.from({ length: 20 }, (_, i) => 1 + 2 * i);
    for (const id of ids) await c.openStream(id, postHeaders(LOGIN));
    await c.waitUntil(() => ids.every((id) => c.resets.has(id)), 20_000);
    expect(
      ids.filter((id) => !c.resets.has(id)),
      "streams still open",
    ).toEqual([]);
    expect(c.goaway(), "the connection itself is not torn down").toBeUndefined();
  });

  it("resets a stream whose body trickles in a byte at a time", async () => {
    client = await openRawH2(server().port);
    const c = client;
    await c.openStream(1, postHeaders(LOGIN));
    // One byte every 250 ms: never idle for a second, but the body takes far longer than 3 s.
    let sent = 0;
    while (!c.resets.has(1) && !c.raw.isClosed() && sent < 60) {
      await c.send(frame(FRAME.DATA, 0, 1, Buffer.from([0])));
      sent++;
      await sleep(250);
    }
    expect(c.resets.has(1), `no reset after ${sent} bytes`).toBe(true);
    expect(sent).toBeLessThan(60);
  });

  it("leaves a quiet Health/Watch stream open: its request is complete", async () => {
    const health = grpcClient(server().address, "grpc.health.v1.Health");
    try {
      const watch = (health as any).Watch({ service: "" }) as grpc.ClientReadableStream<{ status: string }>;
      const updates: string[] = [];
      let ended: string | undefined;
      watch.on("data", (m) => updates.push(m.status));
      watch.on("error", (e: grpc.ServiceError) => (ended ??= `error ${e.code}`));
      watch.on("end", () => (ended ??= "end"));
      for (let i = 0; i < 100 && updates.length === 0; i++) await sleep(50);
      expect(updates[0]).toBe("SERVING");
      await sleep(4500); // longer than both timeouts
      expect(ended).toBeUndefined();
      watch.cancel();
    } finally {
      health.close();
    }
  });
});
