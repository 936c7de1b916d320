import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { expectCleanLogs } from "../helpers/e2e-clients.js";
import { buildGoFixture, describeWithTools, GOCODE, expectAuthFlow, flowSecrets, rpcLogLines, runJsonClient, startWarden } from "../helpers/native-clients.js";
import type { ServedWarden, Transport } from "../helpers/native-clients.js";
import { makeTempDir } from "../helpers/server-process.js";
import { STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

/**
 * A real grpc-go client (Debian's golang-google-grpc-dev, stubs from protoc-gen-go and
 * protoc-gen-go-grpc) against the real server, on h2c and on TLS. The program is
 * tests/e2e/fixtures/go-client/main.go; it prints what it saw as JSON and the assertions are here.
 */

const TOOLS = [
  "/usr/bin/go",
  "/usr/bin/protoc",
  "/usr/bin/protoc-gen-go",
  "/usr/bin/protoc-gen-go-grpc",
  `${GOCODE}/src/google.golang.org/grpc`,
  `${GOCODE}/src/google.golang.org/protobuf`,
];
const PACKAGES = "golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev protobuf-compiler protoc-gen-go protoc-gen-go-grpc";

/** The protos the client imports, and every proto they import; each gets a Go import path under wardenclient/gen. */
const PROTOS = [
  "warden/auth/v1/auth_service.proto",
  "warden/session/v1/session_service.proto",
  "warden/user/v1/user.proto",
  "warden/device/v1/device_service.proto",
  "warden/options/v1/options.proto",
  "buf/validate/validate.proto",
];

/**
 * Generates the stubs and builds the client offline, in GOPATH mode against Debian's Go sources
 * (the protos have no go_package: M options give each file its import path). Returns the binary.
 */
function buildGoClient(dir: string): Promise<string> {
  return buildGoFixture({ gopath: dir, pkg: "wardenclient", fixture: "go-client", protos: PROTOS, bin: "go-client" });
}

describeWithTools("grpc-go client against the real server (h2c and TLS)", TOOLS, PACKAGES, () => {
  let pki: TestPki;
  let workDir: string;
  let bin: string;
  const served = {} as Record<Transport, ServedWarden>;

  beforeAll(async () => {
    pki = makeTestPki();
    workDir = makeTempDir("warden-go-client-");
    // The build (CPU-bound) and the two server starts overlap.
    const [built, h2c, tls] = await Promise.allSettled([buildGoClient(workDir), startWarden("h2c", pki), startWarden("tls", pki)]);
    if (h2c.status === "fulfilled") served.h2c = h2c.value;
    if (tls.status === "fulfilled") served.tls = tls.value;
    for (const r of [built, h2c, tls]) if (r.status === "rejected") throw r.reason;
    bin = (built as PromiseFulfilledResult<string>).value;
  }, 300_000);

  afterAll(async () => {
    await Promise.all(Object.values(served).map((s) => s.dispose()));
    pki?.cleanup();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  const connect = (transport: Transport) => {
    const { server, caFile } = served[transport];
    return ["-addr", `127.0.0.1:${server.port}`, ...(caFile ? ["-ca", caFile] : [])];
  };

  describe.each(["h2c", "tls"] as const)("over %s", (transport) => {
    let out: any;
    let email: string;
    beforeAll(async () => {
      email = uniqueEmail("go");
      out = await runJsonClient(bin, ["flow", ...connect(transport), "-email", email, "-password", STRONG_PASSWORD]);
    }, 60_000);

    it("Register, Login, bearer metadata, Refresh, Logout, Health Check and Watch", () => {
      expectAuthFlow(out, { email, displayName: "Go client", userAgent: /^grpc-go\/\d+\.\d+\.\d+$/ });
    });

    it(transport === "tls" ? "TLS 1.3 with h2 by ALPN, the certificate verified against the test CA" : "cleartext HTTP/2 (prior knowledge)", () => {
      expect(out.tls).toEqual(transport === "tls" ? { alpn: "h2", version: "TLS 1.3", serverName: "localhost" } : undefined);
    });

    it("the server logged each call as gRPC, with its outcome, and never a credential", () => {
      const server = served[transport].server;
      expect(rpcLogLines(server, "warden.auth.v1.AuthService/Register").map((l) => l.code)).toEqual(["ok", "AlreadyExists"]);
      expect(rpcLogLines(server, "warden.auth.v1.AuthService/Logout")).toEqual([expect.objectContaining({ code: "ok", peer: "127.0.0.1" })]);
      expect(rpcLogLines(server, "warden.auth.v1.AuthService/Refresh").map((l) => [l.code, l.reason])).toEqual([
        ["ok", undefined],
        ["Unauthenticated", "SESSION_REVOKED"],
      ]);
      expectCleanLogs(server, [STRONG_PASSWORD, ...flowSecrets(out)]);
    });

    // v1alpha: what grpc-go 1.33, grpcurl and most tools still ask for.
    it("grpc.reflection.v1alpha: ListServices, and the file declaring AuthService", async () => {
      const reflected = await runJsonClient(bin, ["reflect", ...connect(transport)]);
      expect(reflected.error).toBeUndefined();
      expect(reflected.services).toEqual(expect.arrayContaining(["warden.auth.v1.AuthService", "grpc.health.v1.Health"]));
      expect(reflected.filesForAuthService[0]).toBe("warden/auth/v1/auth_service.proto");
      expect(reflected.filesForAuthService).toEqual(expect.arrayContaining(["warden/user/v1/user.proto", "google/protobuf/timestamp.proto"]));
    });
  });
});
