import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Code } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { clientsFor, expectCleanLogs, grpcClient, grpcCode, grpcUnary } from "../helpers/e2e-clients.js";
import { LOGIN, postConnect, REGISTER, registerAndLogin, rpcCallsTotal } from "../helpers/e2e-clients.js";
import { expectError } from "../helpers/expect-error.js";
import { REPO_ROOT, useServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { bearer, STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const run = promisify(execFile);

describe("one port, every protocol (real server, PGlite)", () => {
  const current = useServerProcess();
  let server: ServerProcess;
  beforeAll(() => {
    server = current();
  });
  /** Every credential the tests handle, checked against the server output at the end. */
  const secrets: string[] = [STRONG_PASSWORD];

  it("Connect JSON over HTTP/1.1 fetch: Register -> Login -> Refresh -> ValidateSession", async () => {
    const email = uniqueEmail("fetch");
    const reg = await postConnect(server.baseUrl, REGISTER, { email, password: STRONG_PASSWORD, displayName: "Fetch" });
    expect(reg.status).toBe(200);
    expect(reg.headers.get("content-type")).toBe("application/json");
    expect(reg.json.user.email).toBe(email);

    const login = await postConnect(server.baseUrl, LOGIN, { email, password: STRONG_PASSWORD });
    expect(login.status).toBe(200);
    const { accessToken, refreshToken, sessionId } = login.json;
    expect(accessToken.split(".")).toHaveLength(3);
    expect(refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    secrets.push(accessToken, refreshToken);

    const refreshed = await postConnect(server.baseUrl, "warden.auth.v1.AuthService/Refresh", { refreshToken });
    expect(refreshed.status).toBe(200);
    expect(refreshed.json.refreshToken).not.toBe(refreshToken);
    secrets.push(refreshed.json.accessToken, refreshed.json.refreshToken);

    const validate = "warden.session.v1.SessionService/ValidateSession";
    const valid = await postConnect(server.baseUrl, validate, {}, { authorization: `Bearer ${refreshed.json.accessToken}` });
    expect(valid.status).toBe(200);
    expect(valid.json).toMatchObject({ valid: true, session: { id: sessionId } });

    const anonymous = await postConnect(server.baseUrl, validate, {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.code).toBe("unauthenticated");
  });

  it("Connect over HTTP/2 (h2c prior knowledge on the same port)", async () => {
    const { auth, session } = clientsFor(createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "2" }));
    const { login } = await registerAndLogin(auth, "h2");
    secrets.push(login.accessToken, login.refreshToken);
    const v = await session.validateSession({}, bearer(login.accessToken));
    expect(v.valid).toBe(true);
    expect(v.session?.id).toBe(login.sessionId);
    await expectError(session.validateSession({}, bearer("not-a-token")), Code.Unauthenticated);
  });

  it("gRPC with @grpc/grpc-js: Login, then an authenticated call with metadata", async () => {
    const email = uniqueEmail("grpc");
    await clientsFor(createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" })).auth.register({
      email,
      password: STRONG_PASSWORD,
      displayName: "G",
    });
    const auth = grpcClient(server.address, "warden.auth.v1.AuthService");
    const sessions = grpcClient(server.address, "warden.session.v1.SessionService");
    try {
      const login = await grpcUnary(auth, "Login", { email, password: STRONG_PASSWORD });
      expect(login.user.email).toBe(email);
      secrets.push(login.accessToken, login.refreshToken);
      const v = await grpcUnary(sessions, "ValidateSession", {}, { metadata: { authorization: `Bearer ${login.accessToken}` } });
      expect(v.valid).toBe(true);
      expect(v.session.id).toBe(login.sessionId);
      expect(await grpcCode(grpcUnary(sessions, "ValidateSession", {}))).toBe(grpc.status.UNAUTHENTICATED);
      expect(await grpcCode(grpcUnary(auth, "Login", { email, password: "wrong-password-123" }))).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      auth.close();
      sessions.close();
    }
  });

  it("gRPC-Web with createGrpcWebTransport", async () => {
    const { auth, session } = clientsFor(createGrpcWebTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
    const { email, login } = await registerAndLogin(auth, "grpcweb");
    secrets.push(login.accessToken, login.refreshToken);
    expect(login.user?.email).toBe(email);
    const v = await session.validateSession({}, bearer(login.accessToken));
    expect(v.valid).toBe(true);
  });

  it("standard grpc.health.v1.Health/Check over grpc-js", async () => {
    const health = grpcClient(server.address, "grpc.health.v1.Health");
    try {
      expect(await grpcUnary(health, "Check", { service: "" })).toEqual({ status: "SERVING" });
      // The spec reserves SERVICE_UNKNOWN for Watch: Check answers NOT_FOUND.
      expect(await grpcCode(grpcUnary(health, "Check", { service: "nope" }))).toBe(grpc.status.NOT_FOUND);
    } finally {
      health.close();
    }
    // The same service through connect-es, to pin the enum value.
    const { health: h } = clientsFor(createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "2" }));
    expect((await h.check({ service: "warden" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("buf curl --protocol grpc --http2-prior-knowledge --schema proto", async () => {
    const bufCurl = (method: string, body: object) =>
      run(
        "node_modules/.bin/buf",
        ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--schema", "proto", "-d", JSON.stringify(body), `${server.baseUrl}/${method}`],
        {
          cwd: REPO_ROOT,
          timeout: 20_000,
        },
      );
    const health = JSON.parse((await bufCurl("warden.health.v1.HealthService/HealthCheck", {})).stdout);
    expect(health).toMatchObject({ status: "SERVING_STATUS_SERVING", databaseReady: true });
    expect(health.version).toMatch(/^\d+\.\d+\.\d+/);

    const email = uniqueEmail("bufcurl");
    await postConnect(server.baseUrl, REGISTER, { email, password: STRONG_PASSWORD, displayName: "Buf" });
    const login = JSON.parse((await bufCurl(LOGIN, { email, password: STRONG_PASSWORD })).stdout);
    secrets.push(login.accessToken, login.refreshToken);
    expect(login.user.email).toBe(email);
    expect(login.sessionId).toMatch(/^[0-9a-f]{32}$/);
  });

  it("plain HTTP beside the RPCs: /healthz, /readyz, JWKS, /metrics", async () => {
    const healthz = await fetch(`${server.baseUrl}/healthz`);
    expect(healthz.status).toBe(200);
    expect(await healthz.json()).toEqual({ status: "ok" });

    const readyz = await fetch(`${server.baseUrl}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toMatchObject({ status: "ready", database: "up" });

    const jwks = await fetch(`${server.baseUrl}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    const { keys } = (await jwks.json()) as { keys: Record<string, string>[] };
    const ed = keys.find((k) => k.kty === "OKP" && k.crv === "Ed25519");
    expect(ed?.kid).toBeTruthy();
    expect(ed?.x).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const k of keys) expect(k).not.toHaveProperty("d");

    // The earlier tests made Logins over every protocol; the counter carries a method label.
    expect(await rpcCallsTotal(server.baseUrl, LOGIN)).toBeGreaterThanOrEqual(5);
    expect(await rpcCallsTotal(server.baseUrl, LOGIN, "Unauthenticated")).toBeGreaterThanOrEqual(1);
    const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^warden_rpc_calls_total\{method="warden\.session\.v1\.SessionService\/ValidateSession",code="ok"\} \d+$/m);
  });

  it("the server logged one JSON line per event and never a credential", () => {
    expectCleanLogs(server, secrets);
    const rpcLines = server.logLines().filter((l) => l.msg === "rpc");
    expect(rpcLines.some((l) => l.method === LOGIN && l.code === "ok")).toBe(true);
  });
});
