import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { promisify } from "node:util";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "../../gen/warden/agent/v1/agent_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { CertificateAuthorityService } from "../../gen/warden/ca/v1/ca_service_pb.js";
import { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { createX509Authority, openX509Authority } from "../../src/crypto/x509/x509-authority.js";
import { generateP256KeyPair, issueX509Certificate } from "../../src/crypto/x509/x509-issue.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { expectError } from "../helpers/expect-error.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);

/**
 * The auto TLS mode and agents over mTLS, as a TypeScript agent sees them (connect-node's gRPC
 * transport over HTTP/2 and TLS): the agent pins the cluster CA from GetTrustedCAs, joins with a
 * token, and then heartbeats with x-agent-id and the client certificate GenerateHostCerts gave it,
 * without any token. A certificate proves only its own agent, and only while that agent is registered.
 */
describe("agents over mTLS with the auto TLS mode", () => {
  let t: TestApp;
  let server: RunningServer;
  let caPem: string;
  const dir = mkdtempSync(join(tmpdir(), "warden-mtls-"));

  beforeAll(async () => {
    t = await createTestApp({ tls_auto: true, tls_auto_names: "localhost" });
    server = await startServer(t.app, "127.0.0.1:0");
    const admin = bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
    caPem = (await t.client(CertificateAuthorityService).getTrustedCAs({}, admin)).tlsCaPem.join("");
  });
  afterAll(async () => {
    await server?.drain(200);
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A gRPC client over TLS that trusts only the cluster CA, with an optional client certificate. */
  function grpc<S extends Parameters<typeof createClient>[0]>(service: S, identity?: { cert: string; key: string }): Client<S> {
    const transport = createGrpcTransport({ baseUrl: server.url, nodeOptions: { ca: caPem, ...identity } });
    return createClient(service, transport) as Client<S>;
  }
  async function hostKey(name: string): Promise<string> {
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, name)]);
    return readFileSync(join(dir, `${name}.pub`), "utf8").trim();
  }
  /** A node that joined over TLS: its agent id and the mTLS identity GenerateHostCerts issued. */
  async function joinedAgent(hostname: string) {
    const admin = bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
    const { token } = await t.client(JoinService).createJoinToken({}, admin);
    const join_ = grpc(JoinService);
    const hostPublicKey = await hostKey(hostname);
    const certs = await join_.generateHostCerts({ token, hostPublicKey, hostname, addresses: ["127.0.0.1"] });
    const registered = await join_.registerAgent({ token, hostname, hostPublicKey });
    expect(registered.agentId).toBe(certs.agentId);
    return { id: certs.agentId, identity: { cert: certs.tlsCertificate, key: certs.tlsPrivateKey } };
  }

  it("presents a server certificate from the cluster CA for the configured names and loopback", async () => {
    const peer = await new Promise<X509Certificate>((resolve, reject) => {
      const socket = connect(
        { host: "127.0.0.1", port: Number(server.address.split(":").pop()), ca: caPem, servername: "localhost", ALPNProtocols: ["h2"] },
        () => {
          const cert = socket.getPeerX509Certificate()!;
          socket.end();
          resolve(cert);
        },
      );
      socket.on("error", reject);
    });
    const ca = new X509Certificate(caPem);
    expect(peer.checkIssued(ca) && peer.verify(ca.publicKey)).toBe(true);
    expect(peer.subjectAltName).toContain("DNS:localhost");
    expect(peer.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(peer.ca).toBe(false);
    // A client that trusts public CAs only refuses it: agents pin the cluster CA.
    await expectError(grpc(JoinService).validateJoinToken({ token: "x" }), Code.Unauthenticated, "JOIN_TOKEN_INVALID");
    const unpinned = createClient(JoinService, createGrpcTransport({ baseUrl: server.url }));
    await expect(unpinned.validateJoinToken({ token: "x" })).rejects.toThrow(/self-signed certificate/);
  });

  it("an agent heartbeats with its client certificate alone, as itself only", async () => {
    const a = await joinedAgent("mtls-a");
    const b = await joinedAgent("mtls-b");
    const agentA = grpc(AgentService, a.identity);
    await expect(agentA.agentHeartbeat({ version: "1.2.3" }, { headers: { "x-agent-id": a.id } })).resolves.toMatchObject({
      heartbeatInterval: { seconds: 30n },
    });
    // A's certificate does not make it B.
    await expectError(agentA.agentHeartbeat({}, { headers: { "x-agent-id": b.id } }), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    // No certificate, no token: refused.
    await expectError(grpc(AgentService).agentHeartbeat({}, { headers: { "x-agent-id": a.id } }), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    // A bearer, when sent, is the credential: a wrong one fails even with a good certificate.
    await expectError(
      agentA.agentHeartbeat({}, { headers: { "x-agent-id": a.id, authorization: `Bearer wdn_a_${"x".repeat(64)}` } }),
      Code.Unauthenticated,
      "AGENT_CREDENTIAL_INVALID",
    );
    // Leaving ends the certificate's use too.
    await agentA.deregisterAgent({}, { headers: { "x-agent-id": a.id } });
    await expectError(agentA.agentHeartbeat({}, { headers: { "x-agent-id": a.id } }), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
  });

  it("a client certificate from another CA, even naming a real agent, proves nothing", async () => {
    const a = await joinedAgent("mtls-c");
    const now = Date.now();
    const foreign = await createX509Authority({ commonName: "not the cluster", notBefore: new Date(now - 60_000), notAfter: new Date(now + 3600_000) });
    const keys = generateP256KeyPair();
    const cert = await issueX509Certificate({
      authority: openX509Authority(foreign.certificatePem, foreign.privateKeyPem),
      subjectPublicKey: keys.publicKey,
      commonName: a.id,
      usage: "client",
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 3600_000),
    });
    const forged = grpc(AgentService, { cert, key: keys.privateKey.export({ format: "pem", type: "pkcs8" }).toString() });
    await expectError(forged.agentHeartbeat({}, { headers: { "x-agent-id": a.id } }), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
  });
});
