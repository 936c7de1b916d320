import { beforeAll, describe, expect, it } from "vitest";
import { rpcCallsTotal } from "../helpers/e2e-clients.js";
import { useServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { connectRaw, envelope, grpcRaw, grpcWebRaw } from "./support/rpc.js";

/**
 * Attack: bytes that are not a protobuf message. connect-es decodes the request before any
 * interceptor runs and calls a decoding failure `internal`, so it was neither logged nor
 * counted and read as a server fault. Every protocol now answers INVALID_ARGUMENT with a
 * google.rpc.ErrorInfo (domain warden, reason INVALID_ARGUMENT), logged and counted.
 */
const LOGIN = "warden.auth.v1.AuthService/Login";
const WATCH = "grpc.health.v1.Health/Watch";
// A tag with field number 0x1fffffff and wire type 7, which does not exist.
const GARBAGE = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x80]);
const invalid = { code: "InvalidArgument", reason: "INVALID_ARGUMENT", domain: "warden" };

describe("malformed protobuf over every protocol", () => {
  const current = useServerProcess();
  let server: ServerProcess;
  beforeAll(() => {
    server = current();
  });

  it("Connect (application/proto) -> 400 invalid_argument with ErrorInfo", async () => {
    expect(await connectRaw(server.baseUrl, LOGIN, GARBAGE, "application/proto")).toMatchObject({ ...invalid, status: 400 });
  });

  it("gRPC -> INVALID_ARGUMENT with ErrorInfo, for a bad message and for an envelope shorter than it declares", async () => {
    expect(await grpcRaw(server.baseUrl, LOGIN, envelope(GARBAGE))).toMatchObject(invalid);
    const truncated = Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.from("abc")]);
    expect(await grpcRaw(server.baseUrl, LOGIN, truncated)).toMatchObject(invalid);
  });

  it("gRPC-Web -> INVALID_ARGUMENT with ErrorInfo", async () => {
    expect(await grpcWebRaw(server.baseUrl, LOGIN, envelope(GARBAGE))).toMatchObject(invalid);
  });

  it("a server-streaming method (Health/Watch) -> INVALID_ARGUMENT too", async () => {
    expect(await grpcRaw(server.baseUrl, WATCH, envelope(GARBAGE))).toMatchObject(invalid);
  });

  it("each refusal was logged as an rpc line and counted, and nothing was logged as an internal error", async () => {
    expect(await rpcCallsTotal(server.baseUrl, LOGIN, "InvalidArgument")).toBeGreaterThanOrEqual(4);
    expect(await rpcCallsTotal(server.baseUrl, WATCH, "InvalidArgument")).toBeGreaterThanOrEqual(1);
    const lines = server.logLines();
    const refusals = lines.filter((l) => l.msg === "rpc" && l.method === LOGIN && l.code === "InvalidArgument");
    expect(refusals.length).toBeGreaterThanOrEqual(4);
    expect(refusals.every((l) => l.reason === "INVALID_ARGUMENT" && typeof l.request_id === "string")).toBe(true);
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
  });
});
