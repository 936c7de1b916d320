import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "../../gen/warden/agent/v1/agent_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { CertificateAuthorityService } from "../../gen/warden/ca/v1/ca_service_pb.js";
import { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { LockService, LockTargetKind } from "../../gen/warden/lock/v1/lock_service_pb.js";
import { MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { localSession } from "../helpers/accounts.js";
import { expectFailure } from "../helpers/expect-error.js";
import { addTotp, signUp, totpAt, type TotpMember } from "../helpers/mfa-world.js";
import { HAS_SSHD, runSsh, SSH_TEST_LOGIN, startSshd, type Sshd, type SshResult } from "../helpers/sshd.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);

/**
 * A lock against a real OpenSSH session: a node joined with Warden's host certificate serves a
 * user logged in with a Warden user certificate; while that session is open an admin locks the
 * user: no new certificate, and the node's agent learns of the lock from its heartbeat reply (the
 * agent's cue to end the user's sessions).
 */
describe.skipIf(!HAS_SSHD)("[needs /usr/sbin/sshd (openssh-server)] locking a user with a live ssh session", () => {
  let t: TestApp;
  let admin: TotpMember;
  let sshd: Sshd;
  const dir = mkdtempSync(join(tmpdir(), "warden-ssh-locks-"));

  beforeAll(async () => {
    // Behind real time, so certificates the app signs are valid on sshd's clock.
    t = await createTestApp({}, { startAt: new Date(Date.now() - 10 * 60_000) });
  });
  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  async function keygen(name: string): Promise<{ path: string; line: string }> {
    const path = join(dir, name);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path]);
    return { path, line: readFileSync(`${path}.pub`, "utf8").trim() };
  }

  it("no new certificate for the locked user, and the agent's heartbeat reply carries the lock", async () => {
    const session = await localSession(t, ADMIN_EMAIL, ADMIN_PASSWORD);
    const login = await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    admin = await addTotp(t, { email: ADMIN_EMAIL, userId: login.user!.id, token: session, refreshToken: "", h: bearer(session) });
    const rules = [{ resources: ["session"], verbs: ["get"], effect: 1 }];
    await t.client(RoleService).createRole({ role: { name: "lock-shell", description: "e2e", rules, logins: [SSH_TEST_LOGIN] } }, admin.h);
    const member = await signUp(t, "lock-shell");
    await t.client(UserService).updateUser({ id: member.userId, roles: ["lock-shell"], updateRoles: true }, admin.h);
    const user = bearer((await t.client(AuthService).login({ email: member.email, password: STRONG_PASSWORD })).accessToken);

    // The node: a host key certified by Warden, a real sshd, and the agent registered.
    const join_ = t.client(JoinService);
    const hostKey = await keygen("host-key");
    const { token } = await join_.createJoinToken({ uses: 1, ttl: { seconds: 600n } }, admin.h);
    const hostname = "locked-node.e2e.test";
    const certs = await join_.generateHostCerts({ token, hostPublicKey: hostKey.line, hostname, addresses: ["127.0.0.1"] });
    writeFileSync(`${hostKey.path}-cert.pub`, `${certs.sshHostCertificate}\n`);
    const trusted = join(dir, "trusted-user-ca-keys");
    writeFileSync(trusted, `${certs.userCaAuthorizedKeys.map((l) => l.replace(/^cert-authority /, "")).join("\n")}\n`);
    sshd = await startSshd({ dir, name: "node", hostKey: hostKey.path, hostCertificate: `${hostKey.path}-cert.pub`, trustedUserCaKeys: trusted });
    const agent = await join_.registerAgent({ token, hostname, addresses: ["127.0.0.1"], hostPublicKey: hostKey.line, version: "e2e" });
    const agentAuth = { headers: { "x-agent-id": agent.agentId, authorization: `Bearer ${agent.agentToken}` } };
    const agents = t.client(AgentService);
    expect((await agents.agentHeartbeat({}, agentAuth)).locks).toEqual([]);

    // The user's certificate, and an ssh session that stays open.
    const userKey = await keygen("user-key");
    const issue = () => t.client(AuthService).issueUserCerts({ publicKey: userKey.line, ttl: { seconds: 3600n } }, user);
    const certFile = join(dir, "user-key-cert.pub");
    writeFileSync(certFile, `${(await issue()).sshCertificate}\n`);
    const knownHosts = join(dir, "known_hosts");
    writeFileSync(knownHosts, `${(await t.client(CertificateAuthorityService).getTrustedCAs({}, admin.h)).hostCaKnownHosts.join("\n")}\n`);
    let finished: SshResult | undefined;
    const open = runSsh({ port: sshd.port, user: SSH_TEST_LOGIN, identity: userKey.path, certificate: certFile, knownHosts, home: dir }, ["sleep", "12"]).then(
      (r) => (finished = r),
    );
    for (let waited = 0; !sshd.log().includes(`Accepted publickey for ${SSH_TEST_LOGIN}`); waited += 20) {
      if (waited > 10_000 || finished) throw new Error(`the ssh session did not open:\n${finished?.stderr ?? ""}\n${sshd.log()}`);
      await sleep(20);
    }

    // The lock, while the session is open.
    t.clock.advance(30);
    expect((await t.client(MfaService).validateTotp({ code: totpAt(admin.secret, t.clock) }, admin.h)).valid).toBe(true);
    const { lock } = await t
      .client(LockService)
      .createLock({ target: { kind: LockTargetKind.USER, value: member.userId }, message: "left the company" }, admin.h);
    const refused = await expectFailure(issue(), Code.PermissionDenied, "LOCKED");
    expect(refused.message).toContain("left the company");
    const reply = await agents.agentHeartbeat({}, agentAuth);
    expect(reply.locks).toHaveLength(1);
    expect(reply.locks[0]).toMatchObject({ id: lock!.id, target: { kind: LockTargetKind.USER, value: member.userId }, message: "left the company" });
    expect(finished, "the ssh session was still open when the lock was made").toBeUndefined();
    expect((await open).code).toBe(0);
  });
});
