import { Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import {
  clientsFor,
  expectCleanLogs,
  grpcClient,
  grpcCode,
  grpcRawHttp2,
  grpcUnary,
  LOGIN,
  postConnect,
  REGISTER,
  registerAndLogin,
  type Clients,
} from "../helpers/e2e-clients.js";
import { errorOf } from "../helpers/expect-error.js";
import { useServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const READ_LIMIT = 4096;
const DECODER_ERROR = /parse binary|premature EOF|wire type|decode/i;

/** A unary gRPC call with raw bytes as the message, through grpc-js. */
function grpcRawUnary(address: string, path: string, payload: Buffer): Promise<Buffer> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const identity = (b: Buffer) => b;
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(path, identity, identity, payload, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res!);
    });
  });
}

describe("bad input never crashes the server (SECURITY.md: Bad input)", () => {
  const current = useServerProcess(() => ({ env: { WARDEN_MAX_MESSAGE_BYTES: String(READ_LIMIT) } }));
  let server: ServerProcess;
  let clients: Clients;
  beforeAll(() => {
    server = current();
    clients = clientsFor(createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
  });
  const secrets: string[] = [STRONG_PASSWORD, ADMIN_PASSWORD];

  it("malformed JSON -> invalid_argument (HTTP 400)", async () => {
    for (const body of ["{", '{"email": ', "\u0000\u0001\u0002", "[1,2,3]", '{"email": 42}']) {
      const r = await postConnect(server.baseUrl, LOGIN, body);
      expect(r.status, body).toBe(400);
      expect(r.json.code, body).toBe("invalid_argument");
    }
  });

  it("malformed protobuf over Connect (application/proto) -> invalid_argument from the decoder", async () => {
    const r = await postConnect(server.baseUrl, LOGIN, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]), { "content-type": "application/proto" });
    expect(r.status).toBe(400);
    expect(r.json.code).toBe("invalid_argument");
    expect(r.json.message).toMatch(DECODER_ERROR);
  });

  it("wrong content-type -> 415", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/xml"]) {
      const r = await postConnect(server.baseUrl, LOGIN, "{}", { "content-type": type });
      expect(r.status, type).toBe(415);
    }
  });

  it("unknown method -> 404 over Connect, UNIMPLEMENTED over gRPC", async () => {
    expect((await postConnect(server.baseUrl, "warden.auth.v1.AuthService/NoSuchMethod", {})).status).toBe(404);
    expect((await postConnect(server.baseUrl, "warden.nope.v1.NopeService/Login", {})).status).toBe(404);
    const code = await grpcCode(grpcRawUnary(server.address, "/warden.auth.v1.AuthService/NoSuchMethod", Buffer.alloc(0)));
    expect(code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it("malformed protobuf bytes over gRPC -> INVALID_ARGUMENT from the decoder, not a crash", async () => {
    // Field 1 declared as a string of 127 bytes, but the message ends; then a wire type that does not exist.
    for (const bytes of [
      [0x0a, 0x7f, 0x61],
      [0x0f, 0x01],
    ]) {
      const err = (await grpcRawUnary(server.address, `/${LOGIN}`, Buffer.from(bytes)).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toMatch(DECODER_ERROR);
    }
  });

  it("a broken gRPC envelope over raw HTTP/2 -> a gRPC error status", async () => {
    // The frame header promises 100 bytes; only 3 follow before the stream ends.
    const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.from("abc")]);
    const r = await grpcRawHttp2(server.baseUrl, `/${LOGIN}`, envelope);
    expect(r.status).toBe(200);
    expect(r.grpcStatus).toBeDefined();
    expect(["0", undefined]).not.toContain(r.grpcStatus);
  });

  it(`a message over the read limit (${READ_LIMIT} bytes) -> resource_exhausted`, async () => {
    const big = { email: uniqueEmail("big"), password: STRONG_PASSWORD, displayName: "x".repeat(READ_LIMIT * 2) };
    const r = await postConnect(server.baseUrl, REGISTER, big);
    expect(r.status).toBe(429);
    expect(r.json.code).toBe("resource_exhausted");

    const auth = grpcClient(server.address, "warden.auth.v1.AuthService");
    try {
      expect(await grpcCode(grpcUnary(auth, "Register", big))).toBe(grpc.status.RESOURCE_EXHAUSTED);
      // Just under the limit is served normally.
      const fits = { email: uniqueEmail("fits"), password: STRONG_PASSWORD, displayName: "y".repeat(150) };
      expect((await grpcUnary(auth, "Register", fits)).user.email).toBe(fits.email);
    } finally {
      auth.close();
    }
  });

  it("a display name with CR LF and control characters is stored exactly as given", async () => {
    const names = {
      connect: 'Eve\r\n{"level":60,"msg":"forged"}\u0007\u001b[31m\ttab',
      grpc: "Mallory\nline2\r\u0001\u007f\u0085\u2028end",
    };
    const admin = await clients.auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    secrets.push(admin.accessToken, admin.refreshToken);

    const connectEmail = uniqueEmail("ctl-connect");
    await clients.auth.register({ email: connectEmail, password: STRONG_PASSWORD, displayName: names.connect });
    const grpcEmail = uniqueEmail("ctl-grpc");
    const auth = grpcClient(server.address, "warden.auth.v1.AuthService");
    try {
      await grpcUnary(auth, "Register", { email: grpcEmail, password: STRONG_PASSWORD, displayName: names.grpc });
      const login = await grpcUnary(auth, "Login", { email: grpcEmail, password: STRONG_PASSWORD });
      secrets.push(login.accessToken, login.refreshToken);
      expect(login.user.displayName).toBe(names.grpc);
    } finally {
      auth.close();
    }
    for (const [email, name] of [
      [connectEmail, names.connect],
      [grpcEmail, names.grpc],
    ] as const) {
      const { user } = await clients.user.getUserByEmail({ email }, bearer(admin.accessToken));
      expect(user?.displayName).toBe(name);
    }
  });

  it("a NUL character (which PostgreSQL text cannot hold) -> INVALID_ARGUMENT, not an internal error", async () => {
    const r = await postConnect(server.baseUrl, REGISTER, { email: uniqueEmail("nul"), password: STRONG_PASSWORD, displayName: "nul\u0000byte" });
    expect(r.status).toBe(400);
    expect(r.json.code).toBe("invalid_argument");
  });

  it("an unexpected database error is logged without the query's bound parameters", async () => {
    const { login } = await registerAndLogin(clients.auth, "dberr");
    secrets.push(login.accessToken, login.refreshToken);
    const marker = `marker-${login.sessionId}`;
    const err = await errorOf(clients.session.getSession({ id: `\u0000${marker}` }, bearer(login.accessToken)));
    expect(err, "the call should have failed").toBeDefined();
    expect(Code[err!.code]).not.toBe(Code[Code.Unknown]);
    expect(server.stdout()).not.toContain(marker);
    expect(server.stdout()).not.toContain("$argon2");
  });

  it("afterwards: still healthy, one JSON object per log line, no credential in the output", async () => {
    expect(server.child.exitCode).toBeNull();
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(200);
    const login = await clients.auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    secrets.push(login.accessToken, login.refreshToken);

    expectCleanLogs(server, secrets);
    const lines = server.logLines();
    expect(lines.every((l) => typeof l.level === "number" && typeof l.msg === "string")).toBe(true);
    expect(lines.some((l) => l.msg === "forged")).toBe(false);
    expect(lines.some((l) => l.code === "ResourceExhausted" || l.code === "InvalidArgument" || l.msg === "rpc")).toBe(true);
    expect(server.stderr()).toBe("");
  });
});
