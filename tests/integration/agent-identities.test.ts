import { execFile } from "node:child_process";
import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService, ListAgentIdentitiesResponseSchema, type AgentIdentity } from "../../gen/warden/agent/v1/agent_service_pb.js";
import { AuditService, ListAuditLogsResponseSchema } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { CertificateAuthorityService } from "../../gen/warden/ca/v1/ca_service_pb.js";
import { JoinService, type AgentIdentityCredentials } from "../../gen/warden/join/v1/join_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { sha256Hex } from "../../src/crypto/random.js";
import { decodeCertificate } from "../../src/crypto/ssh/ssh-certificate.js";
import { parseSshPublicKey } from "../../src/crypto/ssh/ssh-public-key.js";
import { errorOf, expectError, outcomeOf } from "../helpers/expect-error.js";
import { signUp } from "../helpers/mfa-world.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);

/**
 * Agent identities (bots): an admin makes one with roles and gets a one-time bootstrap token;
 * the bot trades it (JoinService, public) for an SSH user certificate with its roles' logins, an
 * X.509 client certificate and a single-use renewal token, and renews with that. Any token
 * presented a second time locks the identity for good, including when two holders race.
 */
describe("agent identities", () => {
  let t: TestApp;
  let join_: Client<typeof JoinService>;
  let agents: Client<typeof AgentService>;
  let admin: ReturnType<typeof bearer>;
  const dir = mkdtempSync(join(tmpdir(), "warden-bots-"));
  let keyCount = 0;
  let nameCount = 0;

  beforeAll(async () => {
    t = await createTestApp({ rate_class_budgets: "join_token=200" });
    join_ = t.client(JoinService);
    agents = t.client(AgentService);
    admin = await adminLogin();
    const roles = t.client(RoleService);
    const rules = [{ resources: ["session"], verbs: ["get"], effect: 1 }];
    await roles.createRole({ role: { name: "bot-deploy", description: "ci", rules, logins: ["deploy", "ci"], sshPermissions: { permitPty: true } } }, admin);
    await roles.createRole({ role: { name: "bot-short", description: "short", rules, logins: ["ci"], maxSessionTtl: { seconds: 600n } } }, admin);
    await roles.createRole({ role: { name: "bot-nologin", description: "no logins", rules } }, admin);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  async function adminLogin(): Promise<ReturnType<typeof bearer>> {
    return bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
  }
  /** Moves the clock (past the admin's access token, too: a new one). */
  async function advance(seconds: number): Promise<void> {
    t.clock.advance(seconds);
    admin = await adminLogin();
  }
  async function sshKey(): Promise<string> {
    const path = join(dir, `key-${++keyCount}`);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `bot-${keyCount}`, "-f", path]);
    return readFileSync(`${path}.pub`, "utf8").trim();
  }
  async function bot(roles = ["bot-deploy"], extra: { bootstrapTtl?: bigint; certTtl?: bigint } = {}) {
    const name = `bot-${++nameCount}`;
    return agents.createAgentIdentity(
      {
        name,
        roles,
        bootstrapTtl: extra.bootstrapTtl === undefined ? undefined : { seconds: extra.bootstrapTtl },
        certTtl: extra.certTtl === undefined ? undefined : { seconds: extra.certTtl },
      },
      admin,
    );
  }
  async function bootstrapped(roles = ["bot-deploy"]): Promise<{ id: string; credentials: AgentIdentityCredentials }> {
    const created = await bot(roles);
    const r = await join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken });
    return { id: created.agentIdentity!.id, credentials: r.credentials! };
  }
  async function listed(id: string): Promise<AgentIdentity | undefined> {
    return (await agents.listAgentIdentities({ pageSize: 500 }, admin)).agentIdentities.find((i) => i.id === id);
  }
  const renew = (renewalToken: string) => join_.renewAgentIdentity({ renewalToken });

  it("CreateAgentIdentity shows the bootstrap token once: not in the list, not in the database", async () => {
    const created = await bot();
    expect(created.bootstrapToken).toMatch(/^wdn_b_[A-Za-z0-9]{43}$/);
    const now = t.clock.now().getTime();
    expect(created.agentIdentity).toMatchObject({
      roles: ["bot-deploy"],
      generation: 0,
      locked: false,
      bootstrapped: false,
      certTtl: { seconds: 3600n },
    });
    expect(Number(created.agentIdentity!.bootstrapExpireTime!.seconds) * 1000).toBe(Math.floor((now + 3600_000) / 1000) * 1000);

    const list = await agents.listAgentIdentities({ pageSize: 500 }, admin);
    expect(list.agentIdentities.find((i) => i.id === created.agentIdentity!.id)).toMatchObject({
      name: created.agentIdentity!.name,
      bootstrapExpireTime: created.agentIdentity!.bootstrapExpireTime,
    });
    expect(JSON.stringify(toJson(ListAgentIdentitiesResponseSchema, list))).not.toContain(created.bootstrapToken);

    // The database holds the SHA-256 only.
    const store = t.app.hooks.store.agentIdentities;
    const row = await store.findToken(sha256Hex(created.bootstrapToken));
    expect(row).toMatchObject({ identityId: created.agentIdentity!.id, kind: "bootstrap", generation: 0, usedAt: null });
    expect(JSON.stringify([row, await store.list(500)])).not.toContain(created.bootstrapToken.slice(6));
  });

  it("bad requests: a taken name, an unknown role, TTLs past their settings, a bad name", async () => {
    const created = await bot();
    await expectError(agents.createAgentIdentity({ name: created.agentIdentity!.name }, admin), Code.AlreadyExists, "AGENT_IDENTITY_EXISTS");
    await expectError(agents.createAgentIdentity({ name: "ghost-roles", roles: ["no-such-role"] }, admin), Code.InvalidArgument, "ROLE_UNKNOWN");
    await expectError(agents.createAgentIdentity({ name: "long-boot", bootstrapTtl: { seconds: BigInt(8 * 86400) } }, admin), Code.InvalidArgument);
    await expectError(agents.createAgentIdentity({ name: "long-cert", certTtl: { seconds: BigInt(31 * 3600) } }, admin), Code.InvalidArgument);
    await expectError(agents.createAgentIdentity({ name: "zero-cert", certTtl: { seconds: 0n } }, admin), Code.InvalidArgument);
    await expectError(agents.createAgentIdentity({ name: "Bad Name" }, admin), Code.InvalidArgument);
    expect((await agents.listAgentIdentities({ pageSize: 500 }, admin)).agentIdentities.map((i) => i.name)).not.toContain("ghost-roles");
  });

  it("only admins manage identities; giving one roles needs role/assign", async () => {
    const plain = await signUp(t, "bots-plain");
    await expectError(agents.createAgentIdentity({ name: "by-plain" }, plain.h), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectError(agents.listAgentIdentities({}, plain.h), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectError(agents.deleteAgentIdentity({ id: "00000000-0000-4000-8000-000000000001" }, plain.h), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectError(agents.createAgentIdentity({ name: "by-nobody" }), Code.Unauthenticated);

    // A bot maker who may not assign roles makes bots without roles only.
    await t
      .client(RoleService)
      .createRole({ role: { name: "bot-maker", description: "bots", rules: [{ resources: ["agent_identity"], verbs: ["create"], effect: 1 }] } }, admin);
    const maker = await signUp(t, "bots-maker");
    await t.client(UserService).updateUser({ id: maker.userId, roles: ["bot-maker"], updateRoles: true }, admin);
    const as = bearer((await t.client(AuthService).login({ email: maker.email, password: STRONG_PASSWORD })).accessToken);
    await expectError(agents.createAgentIdentity({ name: "maker-root", roles: ["bot-deploy"] }, as), Code.PermissionDenied, "ROLE_ASSIGNMENT_REQUIRED");
    await expect(agents.createAgentIdentity({ name: "maker-bare" }, as)).resolves.toMatchObject({ agentIdentity: { roles: [] } });
  });

  it("BootstrapAgentIdentity: an SSH certificate with the roles' logins, an X.509 client certificate and a renewal token", async () => {
    const created = await bot();
    const id = created.agentIdentity!.id;
    const name = created.agentIdentity!.name;
    const key = await sshKey();
    const r = await join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken, sshPublicKey: key });
    const c = r.credentials!;
    expect(c.identityId).toBe(id);
    expect(c.generation).toBe(0);
    expect(c.renewalToken).toMatch(/^wdn_r_[A-Za-z0-9]{43}$/);

    const trusted = await t.client(CertificateAuthorityService).getTrustedCAs({}, admin);
    const userCa = parseSshPublicKey(trusted.userCaAuthorizedKeys[0]!.replace(/^cert-authority /, "")).blob;
    const cert = decodeCertificate(c.sshCertificate, { trustedCa: userCa });
    expect(cert.certType).toBe("user");
    expect(cert.keyId).toBe(`bot:${name}`);
    expect(cert.principals).toEqual(["ci", "deploy"]);
    expect(Object.keys(cert.extensions)).toEqual(["permit-pty"]);
    expect(cert.publicKey.blob).toEqual(parseSshPublicKey(key).blob);
    const now = t.clock.now().getTime();
    expect((cert.validBefore as Date).getTime() - now).toBeLessThanOrEqual(3600_000);
    expect((cert.validBefore as Date).getTime() - now).toBeGreaterThan(3590_000);
    expect(now - cert.validAfter.getTime()).toBeGreaterThanOrEqual(59_000);
    expect(Number(c.validBefore!.seconds) * 1000).toBe((cert.validBefore as Date).getTime());
    expect(c.trustedHostCas).toEqual(trusted.hostCaKnownHosts);

    // The real tool reads it as we wrote it.
    const certPath = join(dir, "bot-cert.pub");
    writeFileSync(certPath, `${c.sshCertificate}\n`);
    const listing = (await run("ssh-keygen", ["-L", "-f", certPath])).stdout;
    expect(listing).toContain("Type: ssh-ed25519-cert-v01@openssh.com user certificate");
    expect(listing).toContain(`Key ID: "bot:${name}"`);
    expect(listing).toMatch(/Principals: \n\s+ci\n\s+deploy\n\s+Critical Options: \(none\)/);

    const tls = new X509Certificate(c.tlsCertificate);
    const ca = new X509Certificate(trusted.tlsCaPem[0]!);
    expect(c.tlsCa).toBe(trusted.tlsCaPem.join(""));
    expect(tls.checkIssued(ca) && tls.verify(ca.publicKey)).toBe(true);
    expect(tls.subject).toBe(`CN=${id}`);
    expect(tls.subjectAltName).toBe(`URI:spiffe://warden/bot/${name}`);
    expect(tls.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
    expect(new Date(tls.validTo).getTime()).toBe((cert.validBefore as Date).getTime());
    expect(tls.checkPrivateKey(createPrivateKey(c.tlsPrivateKey))).toBe(true);

    expect(await listed(id)).toMatchObject({ bootstrapped: true, generation: 0, locked: false });
  });

  it("certifies the bot's own TLS key (no private key back); X.509 only without an SSH key; the roles' TTL cap applies", async () => {
    const created = await bot(["bot-short"]);
    const own = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const pem = own.publicKey.export({ format: "pem", type: "spki" }).toString();
    const c = (await join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken, tlsPublicKey: pem })).credentials!;
    expect(c.sshCertificate).toBe("");
    expect(c.tlsPrivateKey).toBe("");
    const tls = new X509Certificate(c.tlsCertificate);
    expect(tls.publicKey.export({ format: "pem", type: "spki" }).toString()).toBe(pem);
    // bot-short's max_session_ttl (10 minutes) caps the identity's hour.
    expect(Number(c.validBefore!.seconds) * 1000 - t.clock.now().getTime()).toBeLessThanOrEqual(600_000);
    expect(new Date(tls.validTo).getTime()).toBe(Number(c.validBefore!.seconds) * 1000);
  });

  it("a bootstrap with an SSH key but no login is refused without spending the token; bad keys are refused up front", async () => {
    const created = await bot(["bot-nologin"]);
    await expectError(
      join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken, sshPublicKey: await sshKey() }),
      Code.PermissionDenied,
      "SSH_LOGINS_REQUIRED",
    );
    await expectError(join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken, sshPublicKey: "ssh-ed25519 nope" }), Code.InvalidArgument);
    await expectError(join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken, tlsPublicKey: "not a pem" }), Code.InvalidArgument);
    const c = (await join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken })).credentials!;
    expect(c.sshCertificate).toBe("");
    expect(c.tlsCertificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(await listed(created.agentIdentity!.id)).toMatchObject({ bootstrapped: true, locked: false });
  });

  it("a bootstrap token presented twice locks the identity: its renewal token then fails too", async () => {
    const created = await bot();
    const first = (await join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken })).credentials!;
    await expectError(join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken }), Code.Unauthenticated, "AGENT_IDENTITY_TOKEN_REUSED");
    const after = await listed(created.agentIdentity!.id);
    expect(after).toMatchObject({ locked: true, lockReason: expect.stringContaining("bootstrap token") });
    await expectError(renew(first.renewalToken), Code.PermissionDenied, "AGENT_IDENTITY_LOCKED");
    await expectError(join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken }), Code.PermissionDenied, "AGENT_IDENTITY_LOCKED");
  });

  it("renewals rotate credentials through generations; an old renewal token locks the identity", async () => {
    const { id, credentials: boot } = await bootstrapped();
    const key = await sshKey();
    const tokens = [boot.renewalToken];
    const serials = new Set<bigint>();
    for (const generation of [1, 2, 3]) {
      t.clock.advance(60);
      const c = (await join_.renewAgentIdentity({ renewalToken: tokens.at(-1)!, sshPublicKey: key })).credentials!;
      expect(c.generation).toBe(generation);
      expect(c.identityId).toBe(id);
      expect(tokens).not.toContain(c.renewalToken);
      serials.add(decodeCertificate(c.sshCertificate).serial);
      expect(Number(c.validBefore!.seconds) * 1000).toBeGreaterThan(t.clock.now().getTime() + 3590_000);
      tokens.push(c.renewalToken);
    }
    expect(serials.size).toBe(3);
    const state = await listed(id);
    expect(state).toMatchObject({ generation: 3, locked: false, bootstrapped: true });
    expect(Number(state!.lastRenewTime!.seconds) * 1000).toBe(Math.floor(t.clock.now().getTime() / 1000) * 1000);

    // Generation 1's token again: someone else holds a copy.
    await expectError(renew(tokens[1]!), Code.Unauthenticated, "AGENT_IDENTITY_TOKEN_REUSED");
    expect(await listed(id)).toMatchObject({ locked: true, generation: 3, lockReason: expect.stringContaining("generation 1") });
    // The current token, never used, is refused as well.
    await expectError(renew(tokens[3]!), Code.PermissionDenied, "AGENT_IDENTITY_LOCKED");
  });

  it("concurrent renewals with one token: exactly one succeeds, and the identity is locked (two holders of one token)", async () => {
    const { id, credentials } = await bootstrapped();
    const outcomes = await Promise.allSettled([1, 2, 3, 4, 5].map(() => renew(credentials.renewalToken)));
    const won = outcomes.filter((o) => o.status === "fulfilled");
    expect(won).toHaveLength(1);
    const lost = await Promise.all(outcomes.filter((o) => o.status === "rejected").map((o) => errorOf(Promise.reject(o.reason))));
    const reasons = lost.map(outcomeOf);
    expect(reasons).toContain("Unauthenticated:AGENT_IDENTITY_TOKEN_REUSED");
    for (const r of reasons) expect(["Unauthenticated:AGENT_IDENTITY_TOKEN_REUSED", "PermissionDenied:AGENT_IDENTITY_LOCKED"]).toContain(r);
    expect(await listed(id)).toMatchObject({ locked: true, generation: 1 });
    await expectError(renew(won[0]!.value.credentials!.renewalToken), Code.PermissionDenied, "AGENT_IDENTITY_LOCKED");
  });

  it("expired tokens are refused without locking; unknown and malformed ones too", async () => {
    const short = await bot(["bot-deploy"], { bootstrapTtl: 60n });
    await advance(61);
    await expectError(join_.bootstrapAgentIdentity({ bootstrapToken: short.bootstrapToken }), Code.Unauthenticated, "AGENT_IDENTITY_TOKEN_INVALID");
    expect(await listed(short.agentIdentity!.id)).toMatchObject({ locked: false, bootstrapped: false });

    // A renewal token lasts one certificate lifetime past the certificates' expiry (2 x 600 s here).
    const created = await bot(["bot-deploy"], { certTtl: 600n });
    const c = (await join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken })).credentials!;
    await advance(1201);
    await expectError(renew(c.renewalToken), Code.Unauthenticated, "AGENT_IDENTITY_TOKEN_INVALID");
    expect(await listed(created.agentIdentity!.id)).toMatchObject({ locked: false, generation: 0 });

    await expectError(renew(`wdn_r_${"A".repeat(43)}`), Code.Unauthenticated, "AGENT_IDENTITY_TOKEN_INVALID");
    await expectError(renew("not-a-token"), Code.Unauthenticated, "AGENT_IDENTITY_TOKEN_INVALID");
    // Each call takes its own kind of token only.
    const other = await bot();
    await expectError(renew(other.bootstrapToken), Code.Unauthenticated, "AGENT_IDENTITY_TOKEN_INVALID");
    await expectError(join_.bootstrapAgentIdentity({ bootstrapToken: c.renewalToken }), Code.Unauthenticated, "AGENT_IDENTITY_TOKEN_INVALID");
  });

  it("DeleteAgentIdentity: its bootstrap and renewal tokens stop working", async () => {
    const { id, credentials } = await bootstrapped();
    const fresh = await bot();
    await agents.deleteAgentIdentity({ id }, admin);
    await agents.deleteAgentIdentity({ id: fresh.agentIdentity!.id }, admin);
    await expectError(renew(credentials.renewalToken), Code.Unauthenticated, "AGENT_IDENTITY_TOKEN_INVALID");
    await expectError(join_.bootstrapAgentIdentity({ bootstrapToken: fresh.bootstrapToken }), Code.Unauthenticated, "AGENT_IDENTITY_TOKEN_INVALID");
    await expectError(agents.deleteAgentIdentity({ id }, admin), Code.NotFound, "AGENT_IDENTITY_NOT_FOUND");
    expect(await listed(id)).toBeUndefined();
    expect(await t.app.hooks.store.agentIdentities.findToken(sha256Hex(credentials.renewalToken))).toBeUndefined();
  });

  it("ListAgentIdentities pages newest first, every identity once", async () => {
    for (let i = 0; i < 3; i++) {
      t.clock.advance(1);
      await bot();
    }
    const all = (await agents.listAgentIdentities({ pageSize: 500 }, admin)).agentIdentities;
    expect(all.length).toBeGreaterThan(5);
    const paged: AgentIdentity[] = [];
    let pageToken = "";
    do {
      const page = await agents.listAgentIdentities({ pageSize: 2, pageToken }, admin);
      expect(page.agentIdentities.length).toBeLessThanOrEqual(2);
      paged.push(...page.agentIdentities);
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(paged.map((i) => i.id)).toEqual(all.map((i) => i.id));
    const times = paged.map((i) => Number(i.createTime!.seconds) * 1e9 + i.createTime!.nanos);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    await expectError(agents.listAgentIdentities({ pageToken: "garbage" }, admin), Code.InvalidArgument);
  });

  it("is audited: create, bootstrap, renew, lock, delete, never a token", async () => {
    const r = await t.client(AuditService).listAuditLogs({ pageSize: 500 }, admin);
    const types = new Set(r.events.map((e) => e.eventType));
    for (const type of ["agent_identity.create", "agent_identity.bootstrap", "agent_identity.renew", "agent_identity.lock", "agent_identity.delete"])
      expect(types).toContain(type);
    const lock = r.events.find((e) => e.eventType === "agent_identity.lock")!;
    expect(lock).toMatchObject({ actorType: "agent_identity", targetType: "agent_identity" });
    expect(JSON.stringify(toJson(ListAuditLogsResponseSchema, r))).not.toMatch(/wdn_[br]_/);
  });
});

describe("agent identity tokens are rate limited", () => {
  it("bad bootstrap and renewal tokens spend the address's join-token budget (RESOURCE_EXHAUSTED)", async () => {
    const t = await createTestApp({ rate_class_budgets: "join_token=3" });
    try {
      const join_ = t.client(JoinService);
      await expectError(join_.bootstrapAgentIdentity({ bootstrapToken: `wdn_b_${"B".repeat(43)}` }), Code.Unauthenticated);
      await expectError(join_.renewAgentIdentity({ renewalToken: `wdn_r_${"B".repeat(43)}` }), Code.Unauthenticated);
      await expectError(join_.renewAgentIdentity({ renewalToken: "wdn_r_short" }), Code.Unauthenticated);
      await expectError(join_.renewAgentIdentity({ renewalToken: `wdn_r_${"B".repeat(43)}` }), Code.ResourceExhausted, "RATE_LIMITED");
    } finally {
      await t.close();
    }
  });
});
