import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "../../gen/warden/agent/v1/agent_service_pb.js";
import { ApiKeyScope, ApiKeyService } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { LockService, LockTargetKind, type Lock } from "../../gen/warden/lock/v1/lock_service_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { decodeCertificate } from "../../src/crypto/ssh/ssh-certificate.js";
import { expectError, expectFailure, violatedFields } from "../helpers/expect-error.js";
import { addTotp, adminWithTotp, auditOf, freshProof, signUp, type Member, type TotpMember } from "../helpers/mfa-world.js";
import { ADMIN_EMAIL, bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);
const { USER, ROLE, NODE, AGENT_IDENTITY, LOGIN } = LockTargetKind;
const RULES = [{ resources: ["session"], verbs: ["get"], effect: 1 }];

function agentAuth(agentId: string, token: string) {
  return { headers: { "x-agent-id": agentId, authorization: `Bearer ${token}` } };
}

/**
 * LockService on one app: who may lock, what a lock on each kind of target refuses (the live
 * session at its next call, sign-in, refresh, certificates, joins, agent calls, agent identity
 * renewal), what the heartbeat reply carries, expiry, deletion, and the audit trail.
 */
describe("locks", () => {
  let t: TestApp;
  let admin: TotpMember;
  let locks: Client<typeof LockService>;
  let auth: Client<typeof AuthService>;
  let join_: Client<typeof JoinService>;
  let agents: Client<typeof AgentService>;
  const dir = mkdtempSync(join(tmpdir(), "warden-locks-"));
  let sshKey: string;
  let count = 0;

  beforeAll(async () => {
    // Behind real time: second-factor proofs and expiry move the clock on.
    t = await createTestApp({ rate_class_budgets: "join_token=200,agent_token=200" }, { startAt: new Date(Date.now() - 60 * 60_000) });
    locks = t.client(LockService);
    auth = t.client(AuthService);
    join_ = t.client(JoinService);
    agents = t.client(AgentService);
    admin = await adminWithTotp(t);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "key")]);
    sshKey = readFileSync(join(dir, "key.pub"), "utf8").trim();
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  const lock = async (kind: LockTargetKind, value: string, extra: { message?: string; ttl?: bigint } = {}): Promise<Lock> => {
    await freshProof(t, admin);
    const r = await locks.createLock(
      { target: { kind, value }, message: extra.message ?? "", expiry: extra.ttl ? { case: "ttl", value: { seconds: extra.ttl } } : { case: undefined } },
      admin.h,
    );
    return r.lock!;
  };
  const unlock = async (l: Lock) => {
    await freshProof(t, admin);
    await locks.deleteLock({ id: l.id }, admin.h);
  };

  /** A role granting SSH logins, and a signed-in user holding it. */
  async function sshUser(logins = ["deploy", "ops"]): Promise<Member & { role: string }> {
    const role = `lock-ssh-${++count}`;
    await t.client(RoleService).createRole({ role: { name: role, description: "locks", rules: RULES, logins } }, admin.h);
    const user = await signUp(t, role);
    await t.client(UserService).updateUser({ id: user.userId, roles: [role], updateRoles: true }, admin.h);
    const login = await auth.login({ email: user.email, password: STRONG_PASSWORD });
    return { ...user, role, token: login.accessToken, refreshToken: login.refreshToken, h: bearer(login.accessToken) };
  }
  const certificate = (m: Member) => auth.issueUserCerts({ publicKey: sshKey }, m.h);
  const call = (m: Member) => t.client(SessionService).validateSession({}, m.h);

  async function joinedNode(hostname: string) {
    const { token } = await join_.createJoinToken({ uses: 1, ttl: { seconds: 600n } }, admin.h);
    const r = await join_.registerAgent({ token, hostname, version: "1.0.0" });
    return { id: r.agentId, auth: agentAuth(r.agentId, r.agentToken) };
  }

  it("only an admin with a fresh second factor locks; bad targets are refused with the field named", async () => {
    const member = await addTotp(t, await signUp(t, "lock-member"));
    await freshProof(t, member);
    const target = { kind: USER, value: member.userId };
    await expectFailure(locks.createLock({ target }, member.h), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectFailure(locks.listLocks({}, member.h), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectFailure(locks.deleteLock({ id: crypto.randomUUID() }, member.h), Code.PermissionDenied, "PERMISSION_REQUIRED");

    // The admin's last proof is older than ten minutes.
    t.clock.advance(11 * 60);
    await expectFailure(locks.createLock({ target }, admin.h), Code.FailedPrecondition, "MFA_REQUIRED");
    await expectFailure(locks.deleteLock({ id: crypto.randomUUID() }, admin.h), Code.FailedPrecondition, "MFA_REQUIRED");
    await freshProof(t, admin);

    const bad = await expectError(locks.createLock({ target: { kind: USER, value: "nobody" } }, admin.h), Code.InvalidArgument, "INVALID_ARGUMENT");
    expect(violatedFields(bad)).toEqual(["target.value"]);
    await expectError(locks.createLock({ target: { kind: USER, value: crypto.randomUUID() } }, admin.h), Code.NotFound, "USER_NOT_FOUND");
    await expectError(locks.createLock({ target: { kind: ROLE, value: "no-such-role" } }, admin.h), Code.InvalidArgument, "ROLE_UNKNOWN");
    await expectError(locks.createLock({ target: { kind: LockTargetKind.UNSPECIFIED, value: "x" } }, admin.h), Code.InvalidArgument);
    await expectError(locks.createLock({ target: { kind: LOGIN, value: "Not A Login" } }, admin.h), Code.InvalidArgument);
    expect(violatedFields(await expectError(locks.createLock({ target: { kind: NODE, value: "bad_host!" } }, admin.h), Code.InvalidArgument))).toEqual([
      "target.value",
    ]);
    await expectError(locks.createLock({ target: { kind: AGENT_IDENTITY, value: crypto.randomUUID() } }, admin.h), Code.NotFound, "AGENT_IDENTITY_NOT_FOUND");
    const past = { case: "expiresAt" as const, value: { seconds: BigInt(Math.floor(t.clock.now().getTime() / 1000) - 60), nanos: 0 } };
    await expectError(locks.createLock({ target, expiry: past }, admin.h), Code.InvalidArgument);
    // No admin locks themselves (or their own role) out.
    await expectError(locks.createLock({ target: { kind: USER, value: ADMIN_EMAIL } }, admin.h), Code.FailedPrecondition, "CANNOT_LOCK_SELF");
    await expectError(locks.createLock({ target: { kind: ROLE, value: "admin" } }, admin.h), Code.FailedPrecondition, "CANNOT_LOCK_SELF");
    await expectError(locks.deleteLock({ id: crypto.randomUUID() }, admin.h), Code.NotFound, "NOT_FOUND");
    expect((await locks.listLocks({}, admin.h)).locks).toEqual([]);
  });

  it("a locked user: the live session fails at its next call, no sign-in, refresh or certificate; deleting the lock restores them", async () => {
    const u = await sshUser();
    expect((await certificate(u)).sshCertificate).toMatch(/-cert-v01@openssh.com /);
    expect((await call(u)).valid).toBe(true);

    // By email: stored as the user's id.
    const l = await lock(USER, u.email.toUpperCase(), { message: "incident 42" });
    expect(l.target).toMatchObject({ kind: USER, value: u.userId });
    expect(l.createdBy).toBe(admin.userId);
    expect(l.expiresAt).toBeUndefined();

    const refused = await expectFailure(call(u), Code.PermissionDenied, "LOCKED");
    expect(refused.message).toContain("incident 42");
    expect(refused.metadata).toMatchObject({ lock_id: l.id, target_kind: "user" });
    await expectFailure(certificate(u), Code.PermissionDenied, "LOCKED");
    await expectFailure(auth.login({ email: u.email, password: STRONG_PASSWORD }), Code.PermissionDenied, "LOCKED");
    await expectFailure(auth.refresh({ refreshToken: u.refreshToken }), Code.PermissionDenied, "LOCKED");
    expect((await locks.listLocks({ kind: USER }, admin.h)).locks.map((x) => x.id)).toContain(l.id);

    await unlock(l);
    expect((await call(u)).valid).toBe(true);
    expect((await certificate(u)).sshCertificate).not.toBe("");
    // The refused refresh rotated nothing: the same refresh token works now.
    expect((await auth.refresh({ refreshToken: u.refreshToken })).accessToken).not.toBe("");
    expect((await auth.login({ email: u.email, password: STRONG_PASSWORD })).accessToken).not.toBe("");
    expect((await locks.listLocks({}, admin.h)).locks.map((x) => x.id)).not.toContain(l.id);

    const created = await auditOf(t, "lock.create", admin.userId);
    expect(created.find((e) => e.targetId === l.id)?.details).toMatchObject({ target_kind: "user", target_value: u.userId, message: "incident 42" });
    expect((await auditOf(t, "lock.delete", admin.userId)).some((e) => e.targetId === l.id)).toBe(true);
  });

  it("a user's lock covers the API keys they own", async () => {
    const u = await sshUser();
    const { organization } = await t.client(OrganizationService).createOrganization({ name: `lock-org-${count}` }, u.h);
    const { secret } = await t.client(ApiKeyService).createApiKey({ organizationId: organization!.id, name: "ci", scopes: [ApiKeyScope.READ] }, u.h);
    const useKey = () => t.client(OrganizationService).getOrganization({ id: organization!.id }, bearer(secret));
    expect((await useKey()).organization!.id).toBe(organization!.id);
    const l = await lock(USER, u.userId);
    await expectFailure(useKey(), Code.PermissionDenied, "LOCKED");
    await unlock(l);
    expect((await useKey()).organization!.id).toBe(organization!.id);
  });

  it("a locked role covers every holder; a user without it is untouched", async () => {
    const holder = await sshUser();
    const other = await sshUser();
    const l = await lock(ROLE, holder.role);
    await expectFailure(call(holder), Code.PermissionDenied, "LOCKED");
    await expectFailure(certificate(holder), Code.PermissionDenied, "LOCKED");
    await expectFailure(auth.login({ email: holder.email, password: STRONG_PASSWORD }), Code.PermissionDenied, "LOCKED");
    expect((await call(other)).valid).toBe(true);
    await unlock(l);
    expect((await call(holder)).valid).toBe(true);
  });

  it("a locked login is left out of certificates; with none left, the certificate is refused", async () => {
    const u = await sshUser(["deploy", "ops"]);
    const l = await lock(LOGIN, "ops");
    const r = await certificate(u);
    expect(r.principals).toEqual(["deploy"]);
    expect(decodeCertificate(r.sshCertificate).principals).toEqual(["deploy"]);
    // The user is not locked: other calls work.
    expect((await call(u)).valid).toBe(true);
    const l2 = await lock(LOGIN, "deploy");
    await expectFailure(certificate(u), Code.PermissionDenied, "LOCKED");
    await unlock(l);
    await unlock(l2);
    expect(decodeCertificate((await certificate(u)).sshCertificate).principals.sort()).toEqual(["deploy", "ops"]);
  });

  it("a lock with a ttl stops covering when it expires, on the clock, with no reload", async () => {
    const u = await sshUser();
    const l = await lock(USER, u.userId, { ttl: 120n });
    expect(l.expiresAt!.seconds - l.createdAt!.seconds).toBe(120n);
    await expectFailure(call(u), Code.PermissionDenied, "LOCKED");
    t.clock.advance(119);
    await expectFailure(call(u), Code.PermissionDenied, "LOCKED");
    t.clock.advance(2);
    expect((await call(u)).valid).toBe(true);
    // Expired locks stay listed until deleted.
    expect((await locks.listLocks({}, admin.h)).locks.map((x) => x.id)).toContain(l.id);
    await unlock(l);
  });

  it("a locked node: its agent calls and joins under its name are refused; other agents' heartbeats carry the user, role and login locks", async () => {
    const locked = await joinedNode(`locked-${++count}.example`);
    const other = await joinedNode(`other-${++count}.example`);
    expect((await agents.agentHeartbeat({}, other.auth)).locks).toEqual([]);

    const byId = await lock(NODE, locked.id.toUpperCase(), { message: "compromised" });
    await expectFailure(agents.agentHeartbeat({}, locked.auth), Code.PermissionDenied, "LOCKED");
    await expectFailure(agents.deregisterAgent({}, locked.auth), Code.PermissionDenied, "LOCKED");
    expect((await agents.agentHeartbeat({}, other.auth)).locks).toEqual([]);
    await unlock(byId);
    await agents.agentHeartbeat({}, locked.auth);

    // By hostname: the agent, and a new join under that name (its token keeps its use).
    const hostname = `host-${++count}.example`;
    const named = await joinedNode(hostname);
    const byName = await lock(NODE, hostname.toUpperCase());
    await expectFailure(agents.agentHeartbeat({}, named.auth), Code.PermissionDenied, "LOCKED");
    const { token } = await join_.createJoinToken({ uses: 1, ttl: { seconds: 600n } }, admin.h);
    await expectFailure(join_.registerAgent({ token, hostname }), Code.PermissionDenied, "LOCKED");
    await expectFailure(join_.generateHostCerts({ token, hostname, hostPublicKey: sshKey }), Code.PermissionDenied, "LOCKED");
    expect((await join_.validateJoinToken({ token })).usesRemaining).toBe(1);
    await unlock(byName);
    expect((await join_.registerAgent({ token, hostname: `other-name-${count}.example` })).agentId).not.toBe("");

    // Session locks reach every agent; node and identity locks do not (they concern no SSH session).
    const u = await sshUser();
    const user = await lock(USER, u.userId, { message: "offboarded" });
    const role = await lock(ROLE, u.role);
    const login = await lock(LOGIN, "deploy");
    const nodeLock = await lock(NODE, locked.id);
    const carried = (await agents.agentHeartbeat({}, other.auth)).locks;
    expect(carried.map((x) => x.id).sort()).toEqual([user.id, role.id, login.id].sort());
    expect(carried.find((x) => x.id === user.id)).toMatchObject({ target: { kind: USER, value: u.userId }, message: "offboarded" });
    for (const l of [user, role, login, nodeLock]) await unlock(l);
    expect((await agents.agentHeartbeat({}, other.auth)).locks).toEqual([]);
  });

  it("a locked agent identity cannot renew (its token stays good), nor bootstrap; a locked role of a bot too", async () => {
    const role = `lock-bot-${++count}`;
    await t.client(RoleService).createRole({ role: { name: role, description: "bot", rules: RULES, logins: ["ci"] } }, admin.h);
    const created = await agents.createAgentIdentity({ name: `lock-bot-${count}`, roles: [role] }, admin.h);
    const id = created.agentIdentity!.id;
    const boot = await join_.bootstrapAgentIdentity({ bootstrapToken: created.bootstrapToken, sshPublicKey: sshKey });
    const renewalToken = boot.credentials!.renewalToken;

    const l = await lock(AGENT_IDENTITY, id);
    await expectFailure(join_.renewAgentIdentity({ renewalToken, sshPublicKey: sshKey }), Code.PermissionDenied, "LOCKED");
    await unlock(l);
    const renewed = await join_.renewAgentIdentity({ renewalToken, sshPublicKey: sshKey });
    expect(renewed.credentials!.generation).toBe(1);

    const byRole = await lock(ROLE, role);
    await expectFailure(join_.renewAgentIdentity({ renewalToken: renewed.credentials!.renewalToken }), Code.PermissionDenied, "LOCKED");
    const second = await agents.createAgentIdentity({ name: `lock-bot-b-${count}`, roles: [role] }, admin.h);
    await expectFailure(join_.bootstrapAgentIdentity({ bootstrapToken: second.bootstrapToken }), Code.PermissionDenied, "LOCKED");
    await unlock(byRole);
    expect((await join_.bootstrapAgentIdentity({ bootstrapToken: second.bootstrapToken })).credentials!.identityId).toBe(second.agentIdentity!.id);
  });

  it("ListLocks pages newest first and filters by kind", async () => {
    const made = [await lock(LOGIN, "page-a"), await lock(LOGIN, "page-b"), await lock(LOGIN, "page-c")];
    const first = await locks.listLocks({ pageSize: 2, kind: LOGIN }, admin.h);
    expect(first.locks.map((x) => x.id)).toEqual([made[2]!.id, made[1]!.id]);
    const second = await locks.listLocks({ pageSize: 2, kind: LOGIN, pageToken: first.nextPageToken }, admin.h);
    expect(second.locks.map((x) => x.id)).toEqual([made[0]!.id]);
    expect(second.nextPageToken).toBe("");
    expect((await locks.listLocks({ kind: ROLE }, admin.h)).locks.every((x) => x.target!.kind === ROLE)).toBe(true);
    await expectError(locks.listLocks({ pageToken: "forged" }, admin.h), Code.InvalidArgument);
    for (const l of made) await unlock(l);
  });
});

/** Two instances on one database: a lock made on one refuses on the other as soon as the notification lands. */
describe("locks across instances", () => {
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    a = await createTestApp({}, { startAt: new Date(Date.now() - 60 * 60_000) });
    b = await createTestApp({}, { sameDatabaseAs: a });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  /** Polls the call on b until it fails with LOCKED (or succeeds again), for at most two seconds; how long it took. */
  async function until(call: () => Promise<unknown>, locked: boolean): Promise<number> {
    const start = Date.now();
    for (;;) {
      const ok = await call().then(
        () => true,
        (err: { code?: Code }) => {
          if (err.code !== Code.PermissionDenied) throw err;
          return false;
        },
      );
      if (ok !== locked) return Date.now() - start;
      if (Date.now() - start > 2000) throw new Error(`still ${locked ? "unlocked" : "locked"} after 2 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("a user locked on one instance is refused on the other, and unlocked there too", async () => {
    const admin = await adminWithTotp(a);
    const u = await signUp(a, "lock-two");
    const onB = () => b.client(SessionService).validateSession({}, u.h);
    expect((await onB()).valid).toBe(true);

    await freshProof(a, admin);
    const { lock } = await a.client(LockService).createLock({ target: { kind: USER, value: u.userId }, message: "two instances" }, admin.h);
    expect(await until(onB, true)).toBeLessThan(2000);
    const refused = await expectFailure(onB(), Code.PermissionDenied, "LOCKED");
    expect(refused.message).toContain("two instances");
    await expectFailure(b.client(AuthService).login({ email: u.email, password: STRONG_PASSWORD }), Code.PermissionDenied, "LOCKED");

    await freshProof(a, admin);
    await a.client(LockService).deleteLock({ id: lock!.id }, admin.h);
    expect(await until(onB, false)).toBeLessThan(2000);
  });
});
