import * as https from "node:https";
import * as tls from "node:tls";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { clientsFor, grpcClient, grpcUnary, type GrpcService } from "../helpers/e2e-clients.js";
import { makeTestPki, type CertFiles, type TestPki } from "../helpers/certs.js";
import { runServerToExit, SLOW_TEST, startServerProcess, useServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD } from "../helpers/test-app.js";

interface ClientTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** GET over HTTPS (HTTP/1.1); rejects when the TLS handshake or the connection fails. */
function httpsGet(url: string, opts: ClientTls): Promise<{ status: number; body: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ...opts, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body, protocol: (res.socket as tls.TLSSocket).getProtocol() ?? "" }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
  });
}

/** A bare TLS handshake: resolves with the negotiated version and ALPN protocol, rejects on failure. */
function handshake(port: number, opts: tls.ConnectionOptions): Promise<{ version: string | null; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ...opts }, () => {
      const result = { version: socket.getProtocol(), alpn: socket.alpnProtocol };
      socket.end();
      resolve(result);
    });
    socket.on("error", reject);
  });
}

function tlsEnv(pki: TestPki, extra: Record<string, string> = {}): Record<string, string> {
  return { WARDEN_TLS_CERT_FILE: pki.server.cert, WARDEN_TLS_KEY_FILE: pki.server.key, ...extra };
}

function grpcTlsCredentials(pki: TestPki, client?: CertFiles): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(pki.read(pki.ca.cert), client ? pki.read(client.key) : null, client ? pki.read(client.cert) : null);
}

/** grpc-js over TLS to 127.0.0.1, verifying the certificate's DNS name (SNI must not be an IP address). */
function tlsGrpcClient(server: ServerProcess, service: GrpcService, creds: grpc.ChannelCredentials): grpc.Client {
  return grpcClient(`127.0.0.1:${server.port}`, service, creds, { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" });
}

/** The standard health check over gRPC on TLS (ALPN h2). */
async function grpcHealthOverTls(server: ServerProcess, creds: grpc.ChannelCredentials): Promise<unknown> {
  const health = tlsGrpcClient(server, "grpc.health.v1.Health", creds);
  try {
    return await grpcUnary(health, "Check", { service: "" }, { deadlineMs: 5000 });
  } finally {
    health.close();
  }
}

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki?.cleanup());

describe("TLS with min_tls_version TLS1.3: gRPC and Connect on one port", () => {
  const current = useServerProcess(() => ({ env: tlsEnv(pki, { WARDEN_MIN_TLS_VERSION: "TLS1.3" }) }));
  let server: ServerProcess;
  let ca: Buffer;
  beforeAll(() => {
    server = current();
    ca = pki.read(pki.ca.cert);
  });

  it("logs that it listens with TLS", () => {
    expect(server.baseUrl.startsWith("https://")).toBe(true);
    expect(server.logLines().find((l) => l.msg === "warden listening")).toMatchObject({ tls: true });
  });

  it("refuses a TLS 1.2-only client and accepts TLS 1.3, offering h2 and http/1.1 by ALPN", async () => {
    await expect(handshake(server.port, { ca, maxVersion: "TLSv1.2" })).rejects.toThrow();
    expect(await handshake(server.port, { ca, minVersion: "TLSv1.3", ALPNProtocols: ["h2"] })).toEqual({ version: "TLSv1.3", alpn: "h2" });
    expect(await handshake(server.port, { ca, ALPNProtocols: ["http/1.1"] })).toEqual({ version: "TLSv1.3", alpn: "http/1.1" });
  });

  it("a client that does not trust the CA fails the handshake", async () => {
    await expect(handshake(server.port, { ca: pki.read(pki.otherCa.cert) })).rejects.toThrow(/certificate/i);
  });

  it("serves gRPC over TLS (grpc-js, ALPN h2)", async () => {
    expect(await grpcHealthOverTls(server, grpcTlsCredentials(pki))).toEqual({ status: "SERVING" });
    const auth = tlsGrpcClient(server, "warden.auth.v1.AuthService", grpcTlsCredentials(pki));
    try {
      const login = await grpcUnary(auth, "Login", { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
      expect(login.user.email).toBe(ADMIN_EMAIL);
    } finally {
      auth.close();
    }
  });

  it("serves Connect over HTTP/1.1 TLS and HTTP/2 TLS, and plain HTTP routes, on the same port", async () => {
    for (const httpVersion of ["1.1", "2"] as const) {
      const { auth, health } = clientsFor(createConnectTransport({ baseUrl: server.baseUrl, httpVersion, nodeOptions: { ca } }));
      expect((await health.check({})).status, httpVersion).toBe(HealthCheckResponse_ServingStatus.SERVING);
      expect((await auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).user?.admin, httpVersion).toBe(true);
    }
    const healthz = await httpsGet(`${server.baseUrl}/healthz`, { ca });
    expect(healthz).toMatchObject({ status: 200, protocol: "TLSv1.3" });
  });
});

describe("mutual TLS: WARDEN_TLS_CLIENT_CA_FILE + WARDEN_REQUIRE_CLIENT_CERT", () => {
  const current = useServerProcess(() => ({ env: tlsEnv(pki, { WARDEN_TLS_CLIENT_CA_FILE: pki.ca.cert, WARDEN_REQUIRE_CLIENT_CERT: "true" }) }));
  let server: ServerProcess;
  beforeAll(() => {
    server = current();
  });
  const clientTls = (client?: CertFiles): ClientTls => ({
    ca: pki.read(pki.ca.cert),
    cert: client && pki.read(client.cert),
    key: client && pki.read(client.key),
  });

  it("refuses a client without a certificate", async () => {
    await expect(httpsGet(`${server.baseUrl}/healthz`, clientTls())).rejects.toThrow();
    await expect(grpcHealthOverTls(server, grpcTlsCredentials(pki))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it("accepts a certificate issued by the client CA", async () => {
    expect(await httpsGet(`${server.baseUrl}/healthz`, clientTls(pki.client))).toMatchObject({ status: 200 });
    expect(await grpcHealthOverTls(server, grpcTlsCredentials(pki, pki.client))).toEqual({ status: "SERVING" });
  });

  it("refuses a certificate from another CA", async () => {
    await expect(httpsGet(`${server.baseUrl}/healthz`, clientTls(pki.otherClient))).rejects.toThrow();
    await expect(grpcHealthOverTls(server, grpcTlsCredentials(pki, pki.otherClient))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });
});

describe("listener refusals at start", () => {
  it("cleartext on a non-loopback address exits non-zero naming addr; tls_terminated_upstream allows it; TLS1.1 is refused", SLOW_TEST, async () => {
    const [cleartext, tls11, upstream] = await Promise.all([
      runServerToExit({ WARDEN_ADDR: "0.0.0.0:0" }),
      runServerToExit({ WARDEN_MIN_TLS_VERSION: "TLS1.1" }),
      startServerProcess({ env: { WARDEN_ADDR: "0.0.0.0:0", WARDEN_TLS_TERMINATED_UPSTREAM: "true" } }),
    ]);
    try {
      expect(cleartext.code).toBe(2);
      expect(cleartext.stderr).toMatch(/\baddr \(WARDEN_ADDR\)/);
      expect(cleartext.stdout).not.toContain("warden listening");

      expect(tls11.code).toBe(2);
      expect(tls11.stderr).toMatch(/\bmin_tls_version \(WARDEN_MIN_TLS_VERSION\)/);

      expect(upstream.address).toMatch(/^0\.0\.0\.0:\d+$/);
      expect((await fetch(`${upstream.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      await upstream.dispose();
    }
  });
});
