import { Writable } from "node:stream";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { createLogger } from "../../src/logger.js";
import { rpcHandlers } from "../../src/http/rpc-handler.js";
import { adminLogin, newUser, type SignedIn } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp } from "../helpers/test-app.js";
import { STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const LOGIN = "/warden.auth.v1.AuthService/Login";

interface RawResponse {
  status: number;
  /** grpc-status from the trailers, the header (trailers-only) or the gRPC-Web trailer frame. */
  grpcStatus: string | null;
  text: string;
}

/** Lines written by the app's logger; each write must be exactly one JSON line. */
function captureLog(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, stream };
}

/** gRPC length-prefixed frame: flag byte, 4-byte big-endian length, payload. */
function frame(payload: Uint8Array, declaredLength = payload.length): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  new DataView(out.buffer).setUint32(1, declaredLength);
  out.set(payload, 5);
  return out;
}

const GARBAGE = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x80]);

describe("malformed input in memory (the server's router, every protocol)", () => {
  let t: TestApp;
  let admin: SignedIn;
  let call: (path: string, contentType: string, body: string | Uint8Array) => Promise<RawResponse>;
  const log = captureLog();

  beforeAll(async () => {
    t = await createTestApp({}, { log: createLogger("info", log.stream) });
    admin = await adminLogin(t);
    // The handlers the server mounts (Connect, gRPC and gRPC-Web, behind its input gate), driven with hand-made requests.
    const handlers = rpcHandlers(t.app);
    call = async (path, contentType, body) => {
      const handler = handlers.find((h) => h.requestPath === path)!;
      const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
      const res = await handler({
        httpVersion: "2.0",
        method: "POST",
        url: `http://in-memory${path}`,
        header: new Headers({ "content-type": contentType, te: "trailers" }),
        body: (async function* () {
          yield bytes;
        })(),
        signal: new AbortController().signal,
      });
      const chunks: Uint8Array[] = [];
      if (res.body && Symbol.asyncIterator in res.body) for await (const c of res.body) chunks.push(c);
      const text = Buffer.concat(chunks).toString("utf8");
      const grpcStatus = res.trailer?.get("grpc-status") ?? res.header?.get("grpc-status") ?? /grpc-status: (\d+)/.exec(text)?.[1] ?? null;
      return { status: res.status, grpcStatus, text };
    };
  });
  afterAll(async () => t?.close());

  it.each([
    ["malformed JSON", "{not json"],
    ["JSON of the wrong type", '{"email": 5, "password": []}'],
    ["JSON with an unknown field", '{"email": "a@b.example", "bogus": true}'],
    ["JSON that is not an object", "[1,2,3]"],
  ])("Connect: %s -> 400 invalid_argument", async (_name, body) => {
    const r = await call(LOGIN, "application/json", body);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text)).toMatchObject({ code: "invalid_argument" });
  });

  it("Connect: malformed protobuf -> 400 invalid_argument, not a crash", async () => {
    const r = await call(LOGIN, "application/proto", GARBAGE);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text)).toMatchObject({ code: "invalid_argument", details: [{ debug: { reason: "INVALID_ARGUMENT", domain: "warden" } }] });
    expect(r.text).not.toMatch(/\bat \w+.*\.(ts|js):\d+/);
  });

  it.each([
    ["a malformed protobuf frame", "application/grpc", frame(GARBAGE)],
    ["a frame shorter than it declares", "application/grpc", frame(new Uint8Array([0x0a, 0x01]), 100)],
    ["a malformed gRPC-Web protobuf frame", "application/grpc-web+proto", frame(GARBAGE)],
  ])("gRPC: %s -> INVALID_ARGUMENT, not a crash", async (_name, contentType, body) => {
    const r = await call(LOGIN, contentType, body);
    expect(r.status).toBe(200);
    expect(r.grpcStatus).toBe(String(Code.InvalidArgument));
  });

  it.each(["text/plain", "application/xml", "multipart/form-data"])("refuses content-type %s with 415", async (contentType) => {
    const r = await call(LOGIN, contentType, "{}");
    expect(r.status).toBe(415);
  });

  it("refuses a message over the read limit (4 MiB by default) with RESOURCE_EXHAUSTED", async () => {
    expect(t.app.routerOptions.readMaxBytes).toBe(4 * 1024 * 1024);
    const huge = "x".repeat(4 * 1024 * 1024 + 10);
    await expectError(t.client(AuthService).register({ email: uniqueEmail("huge"), password: STRONG_PASSWORD, displayName: huge }), Code.ResourceExhausted);
    // A large message under the limit still gets a normal answer (here: the length rule).
    await expectError(
      t.client(AuthService).register({ email: uniqueEmail("big"), password: STRONG_PASSWORD, displayName: "y".repeat(100_000) }),
      Code.InvalidArgument,
    );
  });

  it("still serves normally afterwards, and logged no internal error", async () => {
    await expect(newUser(t, { tag: "after" })).resolves.toBeDefined();
    const levels = log.lines.map((l) => JSON.parse(l).level as number);
    expect(levels.filter((l) => l >= 50)).toEqual([]);
  });

  it("keeps every log record on one line and never logs passwords or tokens", async () => {
    const hostile = 'Eve\r\n{"level":60,"msg":"forged"}\n';
    const u = await newUser(t, { tag: "logged" });
    await t.client(UserService).updateUser({ id: u.userId, displayName: hostile }, admin.auth);
    await expectError(t.client(AuthService).login({ email: `${u.email}\r\nforged`, password: u.password }), Code.InvalidArgument);
    await t.client(AuthService).login({ email: u.email, password: u.password }, { headers: { "x-request-id": "id\twith\ttabs", "user-agent": "agent\tx" } });
    expect(log.lines.length).toBeGreaterThan(5);
    for (const line of log.lines) {
      expect(line.endsWith("\n")).toBe(true);
      expect(line.slice(0, -1)).not.toMatch(/[\r\n]/);
      expect(() => JSON.parse(line)).not.toThrow();
    }
    const all = log.lines.join("");
    for (const secret of [u.password, u.accessToken, u.refreshToken, STRONG_PASSWORD]) expect(all).not.toContain(secret);
    expect(all).not.toContain("forged");
  });
});
