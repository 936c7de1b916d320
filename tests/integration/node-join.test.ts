import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "../../gen/warden/agent/v1/agent_service_pb.js";
import { AuditService, ListAuditLogsResponseSchema } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { CertificateAuthorityService } from "../../gen/warden/ca/v1/ca_service_pb.js";
import { JoinMethod, JoinService, ListJoinTokensResponseSchema } from "../../gen/warden/join/v1/join_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { decodeCertificate } from "../../src/crypto/ssh/ssh-certificate.js";
import { parseSshPublicKey } from "../../src/crypto/ssh/ssh-public-key.js";
import { expectError } from "../helpers/expect-error.js";
import { signUp } from "../helpers/mfa-world.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);

function agentAuth(agentId: string, token: string) {
  return { headers: { "x-agent-id": agentId, authorization: `Bearer ${token}` } };
}

/**
 * JoinService and AgentService in one app: join tokens (admin), host certificates bound to the
 * token, registration that spends exactly one use (also under concurrency), agents that act only
 * as themselves, heartbeats, and the node list with labels, selectors, role scoping and offline.
 */
describe("node join and agents", () => {
  let t: TestApp;
  let join_: Client<typeof JoinService>;
  let agents: Client<typeof AgentService>;
  let admin: ReturnType<typeof bearer>;
  const dir = mkdtempSync(join(tmpdir(), "warden-join-"));
  let keyCount = 0;

  beforeAll(async () => {
    t = await createTestApp({ rate_class_budgets: "join_token=20,agent_token=20" });
    join_ = t.client(JoinService);
    agents = t.client(AgentService);
    admin = bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  async function hostKey(): Promise<string> {
    const path = join(dir, `host-${++keyCount}`);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `host-${keyCount}`, "-f", path]);
    return readFileSync(`${path}.pub`, "utf8").trim();
  }
  async function token(uses = 1, labels: Record<string, string> = {}) {
    return join_.createJoinToken({ uses, labels, ttl: { seconds: 600n } }, admin);
  }
  /** A node that joined with a one-use token of its own, and its credential. */
  async function joinedNode(hostname: string, labels: Record<string, string> = {}, tokenLabels: Record<string, string> = {}) {
    const { token: secret } = await token(1, tokenLabels);
    const r = await join_.registerAgent({ token: secret, hostname, labels, version: "1.0.0" });
    return { id: r.agentId, auth: agentAuth(r.agentId, r.agentToken), token: r.agentToken };
  }

  it("CreateJoinToken shows the secret once; the list and ValidateJoinToken never do", async () => {
    const created = await token(3, { env: "test" });
    expect(created.token).toMatch(/^wdn_j_[A-Za-z0-9]{43}$/);
    expect(created.joinToken).toMatchObject({
      roles: ["node"],
      uses: 3,
      usesRemaining: 3,
      labels: { env: "test" },
      joinMethod: JoinMethod.TOKEN,
      spent: false,
    });
    const listed = await join_.listJoinTokens({}, admin);
    const mine = listed.joinTokens.find((j) => j.id === created.joinToken!.id)!;
    expect(mine.usesRemaining).toBe(3);
    expect(JSON.stringify(toJson(ListJoinTokensResponseSchema, listed))).not.toContain(created.token);
    const validated = await join_.validateJoinToken({ token: created.token });
    expect(validated).toMatchObject({ roles: ["node"], usesRemaining: 3, labels: { env: "test" }, clusterName: "warden" });
    // Stored as a hash only.
    const rows = await t.app.hooks.store.joinTokens.list(100);
    expect(JSON.stringify(rows)).not.toContain(created.token);
  });

  it("bad requests: a TTL past join_token_max_ttl, IAM rules on a token join, an IAM token without rules", async () => {
    await expectError(join_.createJoinToken({ ttl: { seconds: BigInt(8 * 86400) } }, admin), Code.InvalidArgument);
    await expectError(join_.createJoinToken({ allow: [{ awsAccount: "123456789012" }] }, admin), Code.InvalidArgument);
    await expectError(join_.createJoinToken({ joinMethod: JoinMethod.IAM }, admin), Code.InvalidArgument);
    await expectError(join_.createJoinToken({ roles: ["root"] }, admin), Code.InvalidArgument);
  });

  it("only admins make, list and delete tokens", async () => {
    const user = await signUp(t, "join-user");
    const plain = bearer((await t.client(AuthService).login({ email: user.email, password: STRONG_PASSWORD })).accessToken);
    await expectError(join_.createJoinToken({}, plain), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectError(join_.listJoinTokens({}, plain), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectError(join_.createJoinToken({}), Code.Unauthenticated);
  });

  it("GenerateHostCerts certifies the host key (host CA) and an mTLS client key (X.509 CA); RegisterAgent commits that node", async () => {
    const { token: secret } = await token(1, { env: "lab" });
    const key = await hostKey();
    const certs = await join_.generateHostCerts({ token: secret, hostPublicKey: key, hostname: "node-a.example", addresses: ["127.0.0.1"] });
    const trusted = await t.client(CertificateAuthorityService).getTrustedCAs({}, admin);
    const hostCa = parseSshPublicKey(trusted.hostCaKnownHosts[0]!.replace(/^@cert-authority \* /, "")).blob;
    const cert = decodeCertificate(certs.sshHostCertificate, { trustedCa: hostCa });
    expect(cert.certType).toBe("host");
    expect(cert.principals).toEqual(expect.arrayContaining(["node-a.example", "127.0.0.1", certs.agentId, `${certs.agentId}.warden`]));
    expect(cert.publicKey.blob).toEqual(parseSshPublicKey(key).blob);

    const tls = new X509Certificate(certs.tlsCertificate);
    const ca = new X509Certificate(trusted.tlsCaPem[0]!);
    expect(certs.tlsCa).toBe(trusted.tlsCaPem.join(""));
    expect(tls.checkIssued(ca) && tls.verify(ca.publicKey)).toBe(true);
    expect(tls.subject).toContain(`CN=${certs.agentId}`);
    expect(tls.subjectAltName).toContain(`URI:spiffe://warden/agent/${certs.agentId}`);
    expect(certs.tlsPrivateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(tls.checkPrivateKey(await import("node:crypto").then((c) => c.createPrivateKey(certs.tlsPrivateKey)))).toBe(true);
    expect(certs.userCaAuthorizedKeys).toEqual(trusted.userCaAuthorizedKeys);

    // The same key again renews the binding; another key finds the one use taken.
    const again = await join_.generateHostCerts({ token: secret, hostPublicKey: key, hostname: "node-a.example" });
    expect(again.agentId).toBe(certs.agentId);
    await expectError(
      join_.generateHostCerts({ token: secret, hostPublicKey: await hostKey(), hostname: "node-x" }),
      Code.Unauthenticated,
      "JOIN_TOKEN_USED_UP",
    );
    await expectError(
      join_.registerAgent({ token: secret, hostname: "node-x", hostPublicKey: await hostKey() }),
      Code.PermissionDenied,
      "JOIN_TOKEN_HOST_MISMATCH",
    );
    await expectError(join_.registerAgent({ token: secret, hostname: "node-x" }), Code.PermissionDenied, "JOIN_TOKEN_HOST_MISMATCH");

    const registered = await join_.registerAgent({ token: secret, hostname: "node-a.example", hostPublicKey: key, labels: { env: "agent-says", os: "linux" } });
    expect(registered).toMatchObject({ agentId: certs.agentId, clusterName: "warden" });
    expect(registered.agentToken).toMatch(/^wdn_a_[A-Za-z0-9]{64}$/);
    await expectError(join_.registerAgent({ token: secret, hostname: "node-a.example", hostPublicKey: key }), Code.Unauthenticated, "JOIN_TOKEN_USED_UP");
    await expectError(join_.validateJoinToken({ token: secret }), Code.Unauthenticated, "JOIN_TOKEN_USED_UP");

    const nodes = await agents.listNodes({ labelSelector: "os=linux" }, admin);
    const node = nodes.nodes.find((n) => n.id === certs.agentId)!;
    // The token's labels win over the agent's.
    expect(node).toMatchObject({ hostname: "node-a.example", labels: { env: "lab", os: "linux" }, online: true, roles: ["node"], joinMethod: "token" });
    expect(node.hostKeyFingerprint).toMatch(/^SHA256:/);
  });

  it("a 2-use token redeemed by 5 parallel agents admits exactly 2 (with and without host certificates)", async () => {
    const certified = await token(2, { batch: "certified" });
    const keys = await Promise.all([1, 2, 3, 4, 5].map(() => hostKey()));
    const outcomes = await Promise.allSettled(
      keys.map(async (key, i) => {
        await join_.generateHostCerts({ token: certified.token, hostPublicKey: key, hostname: `par-${i}` });
        return join_.registerAgent({ token: certified.token, hostname: `par-${i}`, hostPublicKey: key });
      }),
    );
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(2);

    const bare = await token(2, { batch: "bare" });
    const bareOutcomes = await Promise.allSettled([1, 2, 3, 4, 5].map((i) => join_.registerAgent({ token: bare.token, hostname: `bare-${i}` })));
    expect(bareOutcomes.filter((o) => o.status === "fulfilled")).toHaveLength(2);
    for (const o of bareOutcomes) if (o.status === "rejected") expect((o.reason as { code: Code }).code).toBe(Code.Unauthenticated);

    expect((await agents.listNodes({ labelSelector: "batch=certified" }, admin)).nodes).toHaveLength(2);
    expect((await agents.listNodes({ labelSelector: "batch=bare" }, admin)).nodes).toHaveLength(2);
    const listed = await join_.listJoinTokens({}, admin);
    expect(listed.joinTokens.find((j) => j.id === bare.joinToken!.id)).toMatchObject({ usesRemaining: 0, spent: true });
  });

  it("expired, deleted and unknown tokens are refused", async () => {
    const deleted = await token();
    await join_.deleteJoinToken({ id: deleted.joinToken!.id }, admin);
    await expectError(join_.registerAgent({ token: deleted.token, hostname: "gone" }), Code.Unauthenticated, "JOIN_TOKEN_INVALID");
    await expectError(join_.deleteJoinToken({ id: deleted.joinToken!.id }, admin), Code.NotFound);
    await expectError(join_.registerAgent({ token: "wdn_j_" + "A".repeat(43), hostname: "guess" }), Code.Unauthenticated, "JOIN_TOKEN_INVALID");
    await expectError(join_.validateJoinToken({ token: "not-a-token" }), Code.Unauthenticated, "JOIN_TOKEN_INVALID");

    const short = await join_.createJoinToken({ ttl: { seconds: 60n } }, admin);
    t.clock.advance(61);
    await expectError(join_.registerAgent({ token: short.token, hostname: "late" }), Code.Unauthenticated, "JOIN_TOKEN_EXPIRED");
    await expectError(
      join_.generateHostCerts({ token: short.token, hostPublicKey: await hostKey(), hostname: "late" }),
      Code.Unauthenticated,
      "JOIN_TOKEN_EXPIRED",
    );
  });

  it("an agent acts only as itself: its own id and token, never another's, never a user's token", async () => {
    const a = await joinedNode("self-a");
    const b = await joinedNode("self-b");
    await expect(agents.agentHeartbeat({}, a.auth)).resolves.toMatchObject({ heartbeatInterval: { seconds: 30n } });
    await expectError(agents.agentHeartbeat({}, agentAuth(b.id, a.token)), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    await expectError(agents.agentHeartbeat({}, { headers: { authorization: `Bearer ${a.token}` } }), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    await expectError(agents.agentHeartbeat({}, { headers: { "x-agent-id": a.id } }), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    await expectError(agents.agentHeartbeat({}, { headers: { "x-agent-id": a.id, ...admin.headers } }), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    await expectError(agents.agentHeartbeat({}, admin), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    // An agent token is no credential for anything else.
    await expectError(agents.listNodes({}, a.auth), Code.Unauthenticated);
    await expectError(t.client(UserService).listUsers({}, a.auth), Code.Unauthenticated);
  });

  it("heartbeats refresh labels and liveness; a node goes offline after node_offline_after", async () => {
    const n = await joinedNode("beat-1", { tier: "web" }, { zone: "z1" });
    await agents.agentHeartbeat({ labels: { tier: "db", zone: "agent-wants-z9" }, version: "2.0.0", addresses: ["10.0.0.5"] }, n.auth);
    await flushHeartbeats(t);
    const [node] = (await agents.listNodes({ labelSelector: "zone=z1,tier=db" }, admin)).nodes;
    expect(node).toMatchObject({ id: n.id, version: "2.0.0", addresses: ["10.0.0.5"], labels: { tier: "db", zone: "z1" }, online: true });
    expect((await agents.listNodes({ labelSelector: "zone=z1,tier!=db" }, admin)).nodes).toEqual([]);
    expect((await agents.listNodes({ labelSelector: "zone=z1,!tier" }, admin)).nodes).toEqual([]);
    expect((await agents.listNodes({ labelSelector: "zone=z1,tier" }, admin)).nodes).toHaveLength(1);
    await expectError(agents.listNodes({ labelSelector: "zone==,=x" }, admin), Code.InvalidArgument);

    t.clock.advance(91);
    expect((await agents.listNodes({ labelSelector: "zone=z1", online: true }, admin)).nodes).toEqual([]);
    expect((await agents.listNodes({ labelSelector: "zone=z1", online: false }, admin)).nodes.map((x) => x.online)).toEqual([false]);
    await agents.agentHeartbeat({}, n.auth);
    await flushHeartbeats(t);
    expect((await agents.listNodes({ labelSelector: "zone=z1", online: true }, admin)).nodes.map((x) => x.id)).toEqual([n.id]);
    // An empty heartbeat keeps what the agent reported before.
    expect((await agents.listNodes({ labelSelector: "zone=z1" }, admin)).nodes[0]!.labels).toEqual({ tier: "db", zone: "z1" });
  });

  it("UpdateNode's admin labels win; users see only nodes their roles' node_labels match", async () => {
    const n = await joinedNode("scoped-1", { team: "blue" }, { site: "scoped" });
    await joinedNode("scoped-2", { team: "red" }, { site: "scoped" });
    const updated = await agents.updateNode({ nodeId: n.id, labels: { team: "green" } }, admin);
    expect(updated.node!.labels).toEqual({ team: "green", site: "scoped" });
    await expectError(agents.updateNode({ nodeId: "00000000-0000-4000-8000-000000000000", labels: {} }, admin), Code.NotFound, "NODE_NOT_FOUND");

    await t.client(RoleService).createRole(
      {
        role: {
          name: "green-nodes",
          description: "green",
          rules: [{ resources: ["session"], verbs: ["get"], effect: 1 }],
          nodeLabels: { team: { values: ["green"] } },
        },
      },
      admin,
    );
    const user = await signUp(t, "node-viewer");
    await t.client(UserService).updateUser({ id: user.userId, roles: ["green-nodes"], updateRoles: true }, admin);
    const viewer = bearer((await t.client(AuthService).login({ email: user.email, password: STRONG_PASSWORD })).accessToken);
    expect((await agents.listNodes({ labelSelector: "site=scoped" }, viewer)).nodes.map((x) => x.hostname)).toEqual(["scoped-1"]);
    expect((await agents.listNodes({ labelSelector: "site=scoped" }, admin)).nodes.map((x) => x.hostname)).toEqual(["scoped-1", "scoped-2"]);
    await expectError(agents.updateNode({ nodeId: n.id, labels: {} }, viewer), Code.PermissionDenied);
  });

  it("ListNodes pages through every node once", async () => {
    for (let i = 0; i < 5; i++) await joinedNode(`page-${i}`, {}, { paged: "yes" });
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await agents.listNodes({ labelSelector: "paged=yes", pageSize: 2, pageToken }, admin);
      expect(page.nodes.length).toBeLessThanOrEqual(2);
      seen.push(...page.nodes.map((x) => x.hostname));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(["page-0", "page-1", "page-2", "page-3", "page-4"]);
  });

  it("RenewNodeCertificates: the agent renews its host and client certificates for its own host key only", async () => {
    const { token: secret } = await token();
    const key = await hostKey();
    const first = await join_.generateHostCerts({ token: secret, hostPublicKey: key, hostname: "renew-1", addresses: ["10.1.1.1"] });
    const reg = await join_.registerAgent({ token: secret, hostname: "renew-1", hostPublicKey: key });
    const auth = agentAuth(reg.agentId, reg.agentToken);
    t.clock.advance(120);
    const renewed = await agents.renewNodeCertificates({ hostPublicKey: key }, auth);
    const before = decodeCertificate(first.sshHostCertificate);
    const after = decodeCertificate(renewed.sshHostCertificate);
    expect(after.keyId).toBe(before.keyId);
    expect(after.principals).toEqual(before.principals);
    // Addresses a heartbeat reports are listed, never certified: a node cannot claim another host's address.
    await agents.agentHeartbeat({ addresses: ["10.9.9.9"] }, auth);
    await flushHeartbeats(t);
    expect(decodeCertificate((await agents.renewNodeCertificates({ hostPublicKey: key }, auth)).sshHostCertificate).principals).not.toContain("10.9.9.9");
    expect((after.validBefore as Date).getTime()).toBeGreaterThan((before.validBefore as Date).getTime());
    expect(new X509Certificate(renewed.tlsCertificate).subject).toContain(`CN=${reg.agentId}`);
    expect(renewed.tlsPrivateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    await expectError(agents.renewNodeCertificates({ hostPublicKey: await hostKey() }, auth), Code.PermissionDenied, "HOST_KEY_MISMATCH");
    await expectError(agents.renewNodeCertificates({ hostPublicKey: key }, admin), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");

    // A node that joined without a host key binds the first one it renews with, and only that one.
    const bare = await joinedNode("renew-bare");
    const bareKey = await hostKey();
    await agents.renewNodeCertificates({ hostPublicKey: bareKey }, bare.auth);
    await agents.renewNodeCertificates({ hostPublicKey: bareKey }, bare.auth);
    await expectError(agents.renewNodeCertificates({ hostPublicKey: await hostKey() }, bare.auth), Code.PermissionDenied, "HOST_KEY_MISMATCH");
  });

  it("DeregisterAgent ends the agent's credential at once", async () => {
    const n = await joinedNode("leaving");
    await agents.deregisterAgent({}, n.auth);
    await expectError(agents.agentHeartbeat({}, n.auth), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    expect((await agents.listNodes({}, admin)).nodes.map((x) => x.id)).not.toContain(n.id);
  });

  it("joins and their tokens are audited (never the secrets)", async () => {
    const r = await t.client(AuditService).listAuditLogs({ pageSize: 500 }, admin);
    const types = new Set(r.events.map((e) => e.eventType));
    for (const type of ["join_token.create", "join_token.delete", "node.certify", "node.register", "node.deregister", "node.update"])
      expect(types).toContain(type);
    expect(JSON.stringify(toJson(ListAuditLogsResponseSchema, r))).not.toMatch(/wdn_[ja]_/);
  });
});

/** Heartbeats reach the database in batches: flush the pending one now. */
async function flushHeartbeats(t: TestApp): Promise<void> {
  await t.app.hooks.heartbeats.flush();
}

describe("join and agent credentials are rate limited", () => {
  it("bad join tokens and bad agent tokens spend the address's budget (RESOURCE_EXHAUSTED)", async () => {
    const t = await createTestApp({ rate_class_budgets: "join_token=3,agent_token=3" });
    try {
      const join_ = t.client(JoinService);
      for (let i = 0; i < 3; i++) await expectError(join_.validateJoinToken({ token: `wdn_j_${"B".repeat(43)}` }), Code.Unauthenticated);
      await expectError(join_.validateJoinToken({ token: `wdn_j_${"B".repeat(43)}` }), Code.ResourceExhausted, "RATE_LIMITED");
      const agents = t.client(AgentService);
      const fake = agentAuth("00000000-0000-4000-8000-000000000001", `wdn_a_${"C".repeat(64)}`);
      for (let i = 0; i < 3; i++) await expectError(agents.agentHeartbeat({}, fake), Code.Unauthenticated);
      await expectError(agents.agentHeartbeat({}, fake), Code.ResourceExhausted, "RATE_LIMITED");
    } finally {
      await t.close();
    }
  });
});
