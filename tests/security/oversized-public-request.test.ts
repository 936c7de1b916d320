import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { beforeAll, describe, expect, it } from "vitest";
import { LoginRequestSchema } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { rpcCallsTotal } from "../helpers/e2e-clients.js";
import { useServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { openRawSocket } from "./support/raw-socket.js";
import { connectRaw, envelope, grpcRaw, grpcWebRaw } from "./support/rpc.js";

/**
 * Attack: large bodies sent to the methods anyone may call (sign-in, sign-up, health), which
 * are read and decoded before any rate limit or credential check. Public methods read at most
 * max_public_message_bytes (64 KiB by default) instead of max_message_bytes (4 MiB), before
 * decoding, over every protocol and after decompression; the refusal is RESOURCE_EXHAUSTED
 * with reason MESSAGE_TOO_LARGE, logged and counted like any other error.
 */
const LOGIN = "warden.auth.v1.AuthService/Login";
const PUBLIC_LIMIT = 64 * 1024;
const big = "x".repeat(100_000);
const tooLarge = { code: "ResourceExhausted", reason: "MESSAGE_TOO_LARGE", domain: "warden" };

describe(`public methods read at most ${PUBLIC_LIMIT} bytes (defaults)`, () => {
  const current = useServerProcess();
  let server: ServerProcess;
  beforeAll(() => {
    server = current();
  });

  it("Connect JSON, gRPC and gRPC-Web: a 100 KB Login -> RESOURCE_EXHAUSTED (MESSAGE_TOO_LARGE)", async () => {
    const json = JSON.stringify({ email: big, password: "not-the-password" });
    const binary = toBinary(LoginRequestSchema, create(LoginRequestSchema, { email: big, password: "not-the-password" }));
    expect(await connectRaw(server.baseUrl, LOGIN, json)).toMatchObject({ ...tooLarge, status: 429 });
    expect(await grpcRaw(server.baseUrl, LOGIN, envelope(binary))).toMatchObject(tooLarge);
    expect(await grpcWebRaw(server.baseUrl, LOGIN, envelope(binary))).toMatchObject(tooLarge);
  });

  it("a small gzip body that inflates past the limit -> RESOURCE_EXHAUSTED", async () => {
    const inflated = JSON.stringify({ email: "a".repeat(200_000), password: "not-the-password" });
    const r = await connectRaw(server.baseUrl, LOGIN, gzipSync(inflated), "application/json", { "content-encoding": "gzip" });
    expect(r).toMatchObject(tooLarge);
  });

  it("a request just under the limit is read and answered by the method", async () => {
    const r = await connectRaw(server.baseUrl, LOGIN, JSON.stringify({ email: "y".repeat(60_000), password: "not-the-password" }));
    expect(r).toMatchObject({ code: "InvalidArgument", reason: "EMAIL_INVALID" });
  });

  it("a method that needs a credential keeps the general limit: the same 100 KB reaches authentication", async () => {
    const r = await connectRaw(server.baseUrl, "warden.session.v1.SessionService/GetSession", JSON.stringify({ id: big }));
    expect(r).toMatchObject({ code: "Unauthenticated", status: 401 });
  });

  it("HTTP/1.1: a body declared over the limit is refused at once and the connection closed, not drained", async () => {
    const s = await openRawSocket(server.port);
    try {
      const length = 50 * 1024 * 1024;
      await s.write(`POST /${LOGIN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{"email":"`);
      expect(await s.waitClosed(10_000)).toBe(true);
      expect(s.received()).toMatch(/^HTTP\/1\.1 429/);
      expect(s.received()).toContain("MESSAGE_TOO_LARGE");
    } finally {
      s.destroy();
    }
  });

  it("the refusals were logged and counted", async () => {
    expect(await rpcCallsTotal(server.baseUrl, LOGIN, "ResourceExhausted")).toBeGreaterThanOrEqual(5);
    const lines = server.logLines().filter((l) => l.msg === "rpc" && l.method === LOGIN && l.code === "ResourceExhausted");
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(lines.every((l) => l.reason === "MESSAGE_TOO_LARGE")).toBe(true);
  });
});
