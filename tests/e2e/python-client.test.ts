import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { expectCleanLogs } from "../helpers/e2e-clients.js";
import { describeWithTools, expectAuthFlow, flowSecrets, rpcLogLines, runJsonClient, runTool, startWarden } from "../helpers/native-clients.js";
import type { ServedWarden, Transport } from "../helpers/native-clients.js";
import { makeTempDir, REPO_ROOT } from "../helpers/server-process.js";
import { STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

/**
 * A real grpcio client (Debian's python3-grpcio, stubs from protoc and grpc_python_plugin)
 * against the real server, on h2c and on TLS. The program is
 * tests/e2e/fixtures/python-client/client.py; it prints what it saw as JSON and the assertions
 * are here. Debian's interpreter, not whatever python3 comes first on PATH: that is where the
 * packages are.
 */

const PYTHON = "/usr/bin/python3";
const PLUGIN = "/usr/bin/grpc_python_plugin";
const TOOLS = [PYTHON, "/usr/bin/protoc", PLUGIN, "/usr/lib/python3/dist-packages/grpc", "/usr/lib/python3/dist-packages/google/protobuf"];
const PACKAGES = "python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc";

/** The protos the client imports, and every proto they import. */
const PROTOS = [
  "warden/auth/v1/auth_service.proto",
  "warden/session/v1/session_service.proto",
  "warden/user/v1/user.proto",
  "warden/device/v1/device_service.proto",
  "warden/options/v1/options.proto",
  "buf/validate/validate.proto",
  "google/rpc/error_details.proto",
];

/**
 * Generates the stubs into `dir`. health.proto is compiled from a copy under grpc_health/: as
 * grpc/health/v1 its module would be grpc.health.v1, inside grpcio's own `grpc` package. The
 * proto package, hence the method paths on the wire, stays grpc.health.v1.
 */
async function generateStubs(dir: string): Promise<void> {
  const extra = join(dir, "protos");
  mkdirSync(join(extra, "grpc_health/v1"), { recursive: true });
  copyFileSync(resolve(REPO_ROOT, "proto/grpc/health/v1/health.proto"), join(extra, "grpc_health/v1/health.proto"));
  const includes = ["-I", "proto", "-I", extra, "-I", "/usr/include"];
  const out = [`--python_out=${dir}`, `--grpc_python_out=${dir}`, `--plugin=protoc-gen-grpc_python=${PLUGIN}`];
  await runTool("/usr/bin/protoc", [...includes, ...out, ...PROTOS, "grpc_health/v1/health.proto"], { cwd: REPO_ROOT });
}

describeWithTools("grpcio (Python) client against the real server (h2c and TLS)", TOOLS, PACKAGES, () => {
  let pki: TestPki;
  let stubs: string;
  const served = {} as Record<Transport, ServedWarden>;

  beforeAll(async () => {
    pki = makeTestPki();
    stubs = makeTempDir("warden-python-client-");
    const [generated, h2c, tls] = await Promise.allSettled([generateStubs(stubs), startWarden("h2c", pki), startWarden("tls", pki)]);
    if (h2c.status === "fulfilled") served.h2c = h2c.value;
    if (tls.status === "fulfilled") served.tls = tls.value;
    for (const r of [generated, h2c, tls]) if (r.status === "rejected") throw r.reason;
  }, 300_000);

  afterAll(async () => {
    await Promise.all(Object.values(served).map((s) => s.dispose()));
    pki?.cleanup();
    if (stubs) rmSync(stubs, { recursive: true, force: true });
  });

  describe.each(["h2c", "tls"] as const)("over %s", (transport) => {
    let out: any;
    let email: string;
    beforeAll(async () => {
      const { server, caFile } = served[transport];
      email = uniqueEmail("py");
      const client = resolve(REPO_ROOT, "tests/e2e/fixtures/python-client/client.py");
      const tls = caFile ? ["--ca", caFile] : [];
      out = await runJsonClient(PYTHON, [
        client,
        "--stubs",
        stubs,
        "--addr",
        `127.0.0.1:${server.port}`,
        ...tls,
        "--email",
        email,
        "--password",
        STRONG_PASSWORD,
      ]);
    }, 60_000);

    it("Register, Login, bearer metadata, Refresh, Logout, Health Check and Watch", () => {
      expectAuthFlow(out, { email, displayName: "Python client", userAgent: /^grpc-python\/\d+\.\d+\.\d+ grpc-c\/[\d.]+ \(linux; chttp2\)$/ });
    });

    it("the server logged each call as gRPC, with its outcome, and never a credential", () => {
      const server = served[transport].server;
      expect(rpcLogLines(server, "warden.auth.v1.AuthService/Login").map((l) => [l.code, l.reason])).toEqual([
        ["Unauthenticated", "INVALID_CREDENTIALS"],
        ["ok", undefined],
      ]);
      expect(rpcLogLines(server, "warden.session.v1.SessionService/ValidateSession").map((l) => l.reason ?? l.code)).toEqual([
        "ok",
        "UNAUTHENTICATED",
        "TOKEN_MALFORMED",
        "ok",
        "SESSION_REVOKED",
        "SESSION_REVOKED",
      ]);
      expect(rpcLogLines(server, "grpc.health.v1.Health/Watch")).toHaveLength(2);
      expectCleanLogs(server, [STRONG_PASSWORD, ...flowSecrets(out)]);
    });
  });
});
