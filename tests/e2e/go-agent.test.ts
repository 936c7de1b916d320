import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AgentService } from "../../gen/warden/agent/v1/agent_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { CertificateAuthorityService } from "../../gen/warden/ca/v1/ca_service_pb.js";
import { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { createX509Authority } from "../../src/crypto/x509/x509-authority.js";
import { createScratchDatabase, dropScratchDatabase, TEST_PG_URL } from "../helpers/database.js";
import { expectCleanLogs } from "../helpers/e2e-clients.js";
import { buildGoFixture, describeWithTools, GOCODE, rpcLogLines, runTool } from "../helpers/native-clients.js";
import { eventually } from "../helpers/probes.js";
import { makeTempDir, SLOW_TEST, startServerProcess, type ServerProcess, type StartOptions } from "../helpers/server-process.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer } from "../helpers/test-app.js";

const run = promisify(execFile);

/**
 * A node agent written in Go (Debian's grpc-go, stubs from protoc-gen-go and protoc-gen-go-grpc)
 * against the real server in the auto TLS mode: it trusts only the cluster CA, joins with a join
 * token (GenerateHostCerts, RegisterAgent), then heartbeats with x-agent-id and the client
 * certificate the join gave it, and no token. The program is tests/e2e/fixtures/go-agent/agent.go;
 * it prints what it saw as JSON and the assertions are here. tests/integration/agent-mtls.test.ts
 * is the same with a TypeScript agent.
 */

const TOOLS = [
  "/usr/bin/go",
  "/usr/bin/protoc",
  "/usr/bin/protoc-gen-go",
  "/usr/bin/protoc-gen-go-grpc",
  "/usr/bin/ssh-keygen",
  `${GOCODE}/src/google.golang.org/grpc`,
  `${GOCODE}/src/google.golang.org/protobuf`,
  `${GOCODE}/src/google.golang.org/genproto/googleapis/rpc/errdetails`,
];
const PACKAGES =
  "golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev golang-google-genproto-dev protobuf-compiler protoc-gen-go protoc-gen-go-grpc openssh-client";

/** The protos the agent imports, and every proto they import; each gets a Go import path under wardenagent/gen. */
const PROTOS = [
  "warden/join/v1/join_service.proto",
  "warden/agent/v1/agent_service.proto",
  // The heartbeat reply carries the locks in force.
  "warden/lock/v1/lock_service.proto",
  "warden/options/v1/options.proto",
  "buf/validate/validate.proto",
];

const CLUSTER = "go-e2e";
const VERSION = "go-agent/e2e";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Generates the stubs and builds the agent offline, in GOPATH mode against Debian's Go sources (as go-client.test.ts does). */
function buildGoAgent(dir: string): Promise<string> {
  return buildGoFixture({ gopath: dir, pkg: "wardenagent", fixture: "go-agent", protos: PROTOS, bin: "go-agent" });
}

/**
 * The cluster CA, as an operator gets it before anything can pin it: the server's first start
 * in cleartext on loopback, an admin reading GetTrustedCAs there. The auto TLS restart on the
 * same database must then present a certificate from that very CA.
 */
async function bootstrapCa(opts: StartOptions): Promise<string> {
  const first = await startServerProcess(opts);
  try {
    const transport = createGrpcTransport({ baseUrl: first.baseUrl });
    const login = await createClient(AuthService, transport).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    const { tlsCaPem } = await createClient(CertificateAuthorityService, transport).getTrustedCAs({}, bearer(login.accessToken));
    expect(tlsCaPem).toHaveLength(1);
    return tlsCaPem.join("");
  } finally {
    await first.stop();
    await first.dispose();
  }
}

describeWithTools("a Go agent joins and heartbeats over mTLS (auto TLS mode, real server)", TOOLS, PACKAGES, () => {
  let workDir: string;
  let databaseUrl: string | undefined;
  let server: ServerProcess;
  let bin: string;
  let caPem: string;
  let caFile: string;
  let admin: ReturnType<typeof bearer>;
  const secrets: string[] = [];

  let transport: Transport;
  /** A connect-node gRPC client over TLS trusting only the cluster CA. */
  const pinned = <S extends Parameters<typeof createClient>[0]>(service: S): Client<S> => createClient(service, transport) as Client<S>;

  beforeAll(async () => {
    workDir = makeTempDir("warden-go-agent-");
    const startServers = async () => {
      databaseUrl = TEST_PG_URL ? await createScratchDatabase() : undefined;
      const dataDir = join(workDir, "server");
      mkdirSync(dataDir);
      const env = { DATABASE_URL: databaseUrl, WARDEN_CLUSTER_NAME: CLUSTER };
      caPem = await bootstrapCa({ dataDir, env });
      server = await startServerProcess({ dataDir, scheme: "https", env: { ...env, WARDEN_TLS_AUTO: "true" } });
    };
    // The build (CPU-bound, ~1 min with a cold Go cache, seconds with a warm one) and the server starts overlap.
    const [built, servers] = await Promise.allSettled([buildGoAgent(join(workDir, "gopath")), startServers()]);
    for (const r of [built, servers]) if (r.status === "rejected") throw r.reason;
    bin = (built as PromiseFulfilledResult<string>).value;
    transport = createGrpcTransport({ baseUrl: `https://127.0.0.1:${server.port}`, nodeOptions: { ca: caPem } });
    caFile = join(workDir, "cluster-ca.pem");
    writeFileSync(caFile, caPem);
    const login = await pinned(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    admin = bearer(login.accessToken);
    secrets.push(login.accessToken, login.refreshToken);
  }, 2 * SLOW_TEST.timeout);

  afterAll(async () => {
    await server?.dispose();
    if (databaseUrl) await dropScratchDatabase(databaseUrl);
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  /** A fresh single-use join token, made by the admin over TLS pinned to the cluster CA. */
  async function joinToken(): Promise<string> {
    const { token } = await pinned(JoinService).createJoinToken({}, admin);
    secrets.push(token);
    return token;
  }

  /** Runs the agent for a host (its own ssh-keygen host key and state directory); the token goes in the environment. */
  async function runAgent(hostname: string, token: string, extra: string[] = [], ca = caFile) {
    const dir = join(workDir, hostname);
    mkdirSync(dir);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
    const args = ["-addr", `127.0.0.1:${server.port}`, "-ca", ca, "-hostname", hostname, "-host-key", join(dir, "host_key.pub"), "-dir", dir];
    // The token only in the environment, as an agent would get it (argv shows in process lists).
    const stdout = await runTool(bin, [...args, "-version", VERSION, "-pause", "50ms", ...extra], {
      env: { PATH: process.env.PATH, WARDEN_JOIN_TOKEN: token },
    });
    const out = JSON.parse(stdout);
    // The key's base64 lines: a JSON log line would hold the PEM with its newlines escaped.
    secrets.push(
      ...readFileSync(join(dir, "agent.key"), "utf8")
        .split("\n")
        .filter((l) => l.length > 7 && !l.startsWith("-----")),
    );
    return { dir, out };
  }

  let first: { dir: string; out: any };

  it("the auto TLS restart serves a certificate from the CA the cleartext first start made", async () => {
    // connect-node verifies the chain and the IP SAN (127.0.0.1) against the pinned CA alone.
    const { nodes } = await pinned(AgentService).listNodes({}, admin);
    expect(nodes).toEqual([]);
    expect(new X509Certificate(caPem).subject).toBe(`CN=Warden cluster CA (${CLUSTER})`);
  });

  it("joins over TLS pinned to the cluster CA, then heartbeats 3 times with its client certificate and x-agent-id only", async () => {
    first = await runAgent("go-agent-1", await joinToken());
    const { out } = first;
    expect(out.agent_id).toMatch(UUID);
    expect(out.cluster_name).toBe(CLUSTER);
    expect(out.heartbeats).toEqual([1, 2, 3].map(() => ({ interval_seconds: 30, server_time: expect.any(String) })));
    for (const hb of out.heartbeats) expect(Math.abs(Date.parse(hb.server_time) - Date.now())).toBeLessThan(120_000);
    // grpc-go over TLS 1.3 and h2, the server's certificate from the cluster CA, ours naming the agent.
    expect(out.tls).toEqual({ alpn: "h2", version: "TLS 1.3", server_issuer: `Warden cluster CA (${CLUSTER})`, client_subject: out.agent_id });

    // The certificate the agent wrote: issued by the cluster CA for client authentication, for this agent.
    const cert = new X509Certificate(readFileSync(join(first.dir, "agent.crt")));
    const ca = new X509Certificate(caPem);
    expect(cert.checkIssued(ca) && cert.verify(ca.publicKey)).toBe(true);
    expect(cert.subject).toContain(`CN=${out.agent_id}`);
    expect(cert.ca).toBe(false);
  });

  it("ListNodes, as the admin, shows the node online under its hostname, with the version its heartbeats reported", async () => {
    // Heartbeats reach the database in one batch a second.
    await eventually(
      async () => (await pinned(AgentService).listNodes({ online: true }, admin)).nodes.some((n) => n.id === first.out.agent_id && n.version === VERSION),
      10_000,
      "the heartbeats' version on the node",
    );
    const { nodes } = await pinned(AgentService).listNodes({}, admin);
    const node = nodes.find((n) => n.id === first.out.agent_id)!;
    expect(node).toMatchObject({ hostname: "go-agent-1", online: true, version: VERSION, addresses: ["127.0.0.1"], roles: ["node"], joinMethod: "token" });
    expect(timestampDate(node.lastHeartbeatTime!).getTime()).toBeGreaterThanOrEqual(timestampDate(node.registerTime!).getTime() - 1000);
    expect(node.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it("another Go agent's certificate claiming the first agent's id is refused UNAUTHENTICATED", async () => {
    const { out } = await runAgent("go-agent-2", await joinToken(), ["-beats", "1", "-wrong-id", first.out.agent_id]);
    // Its certificate works as itself ...
    expect(out.agent_id).toMatch(UUID);
    expect(out.agent_id).not.toBe(first.out.agent_id);
    expect(out.heartbeats).toEqual([{ interval_seconds: 30, server_time: expect.any(String) }]);
    // ... and proves nothing about the first agent.
    expect(out.wrong_id).toEqual({
      agent_id: first.out.agent_id,
      result: { interval_seconds: 0, error: { code: grpc.status.UNAUTHENTICATED, code_name: "Unauthenticated", reason: "AGENT_CREDENTIAL_INVALID" } },
    });
  });

  it("an agent that trusts another CA refuses the server before sending its token", async () => {
    const now = Date.now();
    const other = await createX509Authority({ commonName: "not the cluster", notBefore: new Date(now - 60_000), notAfter: new Date(now + 3600_000) });
    const otherFile = join(workDir, "other-ca.pem");
    writeFileSync(otherFile, other.certificatePem);
    const err = await runAgent("go-agent-3", await joinToken(), [], otherFile).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/GenerateHostCerts: rpc error: code = Unavailable .*certificate signed by unknown authority/);
    expect(rpcLogLines(server, "warden.join.v1.JoinService/GenerateHostCerts")).toHaveLength(2);
  });

  it("the server logged every heartbeat as gRPC with its outcome, and never a token, key or credential", () => {
    const heartbeats = rpcLogLines(server, "warden.agent.v1.AgentService/AgentHeartbeat");
    expect(heartbeats.map((l) => [l.code, l.reason])).toEqual([
      ["ok", undefined],
      ["ok", undefined],
      ["ok", undefined],
      ["ok", undefined],
      ["Unauthenticated", "AGENT_CREDENTIAL_INVALID"],
    ]);
    expectCleanLogs(server, secrets);
  });
});
