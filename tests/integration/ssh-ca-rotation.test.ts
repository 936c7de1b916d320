import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { CertificateAuthorityKind, CertificateAuthorityService, RotationPhase } from "../../gen/warden/ca/v1/ca_service_pb.js";
import { MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { decodeCertificate } from "../../src/crypto/ssh/ssh-certificate.js";
import { parseSshPublicKey } from "../../src/crypto/ssh/ssh-public-key.js";
import { expectFailure } from "../helpers/expect-error.js";
import { addTotp, auditOf, signUp, totpAt, type TotpMember } from "../helpers/mfa-world.js";
import { HAS_SSHD, runSsh, SSH_TEST_LOGIN, sshdWithTestHostCa, type Sshd } from "../helpers/sshd.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);
const USER = CertificateAuthorityKind.USER;

/**
 * RotateCA on the user CA, checked by a real sshd that trusts what GetTrustedCAs lists at each
 * phase: certificates of the old and the new CA both log in during the update phases, only the
 * new one's after standby; a rollback gives the signing back to the old CA.
 */
describe.skipIf(!HAS_SSHD)("[needs /usr/sbin/sshd (openssh-server)] rotating the user CA", () => {
  let t: TestApp;
  let auth: Client<typeof AuthService>;
  let ca: Client<typeof CertificateAuthorityService>;
  let admin: TotpMember;
  let sshd: Sshd;
  let knownHosts: string;
  const dir = mkdtempSync(join(tmpdir(), "warden-ca-rotation-"));
  const trustFile = join(dir, "trusted-user-ca-keys");
  let key: string;

  beforeAll(async () => {
    // Ten minutes behind real time: second-factor proofs move the clock on, and sshd checks validity on its own clock.
    t = await createTestApp({}, { startAt: new Date(Date.now() - 10 * 60_000) });
    auth = t.client(AuthService);
    ca = t.client(CertificateAuthorityService);
    const login = await auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    const me = { email: ADMIN_EMAIL, userId: login.user!.id, token: login.accessToken, refreshToken: login.refreshToken, h: bearer(login.accessToken) };
    admin = await addTotp(t, me);
    const roles = t.client(RoleService);
    const { role } = await roles.getRole({ name: "admin" }, admin.h);
    await roles.updateRole({ role: { ...role!, logins: [SSH_TEST_LOGIN] } }, admin.h);
    key = join(dir, "user-key");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    await trustWhatWardenLists();
    ({ sshd, knownHosts } = await sshdWithTestHostCa(dir, "rotation", trustFile));
  });
  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  /** What a host does at each phase: trust the user CAs GetTrustedCAs lists now. */
  async function trustWhatWardenLists(): Promise<string[]> {
    const keys = (await ca.getTrustedCAs({}, admin.h)).userCaAuthorizedKeys.map((l) => l.replace(/^cert-authority /, ""));
    writeFileSync(trustFile, `${keys.join("\n")}\n`);
    return keys;
  }
  /** A certificate for the admin's key, written to its own file; its signing CA's fingerprint. */
  async function issue(name: string): Promise<{ file: string; ca: string }> {
    const r = await auth.issueUserCerts({ publicKey: readFileSync(`${key}.pub`, "utf8") }, admin.h);
    const file = join(dir, `${name}-cert.pub`);
    writeFileSync(file, `${r.sshCertificate}\n`);
    return { file, ca: decodeCertificate(r.sshCertificate).signatureKeyFingerprint };
  }
  const logsIn = async (cert: { file: string }) =>
    (await runSsh({ port: sshd.port, user: SSH_TEST_LOGIN, identity: key, certificate: cert.file, knownHosts, home: dir }, ["echo", "in"])).stdout.trim() ===
    "in";
  /** A fresh second-factor proof on the session (a new code: each one works once). */
  const fresh = async (m: TotpMember = admin) => {
    t.clock.advance(30);
    expect((await t.client(MfaService).validateTotp({ code: totpAt(m.secret, t.clock) }, m.h)).valid).toBe(true);
  };
  const rotate = (phase: RotationPhase) => ca.rotateCA({ kind: USER, phase }, admin.h);
  const fingerprints = async () => (await ca.getTrustedCAs({}, admin.h)).authorities.filter((a) => a.kind === "user");

  it("needs an administrator with a fresh second factor, and phases in order", async () => {
    const member = await addTotp(t, await signUp(t, "not-admin"));
    await fresh(member);
    await expectFailure(ca.rotateCA({ kind: USER, phase: RotationPhase.INIT }, member.h), Code.PermissionDenied);
    await expectFailure(rotate(RotationPhase.INIT), Code.FailedPrecondition, "MFA_REQUIRED");
    await fresh();
    await expectFailure(rotate(RotationPhase.UPDATE_SERVERS), Code.FailedPrecondition, "CA_ROTATION_OUT_OF_ORDER");
    await expectFailure(rotate(RotationPhase.ROLLBACK), Code.FailedPrecondition, "CA_ROTATION_OUT_OF_ORDER");
  });

  it("init -> update_clients -> update_servers -> standby: both CAs work during the update phases, only the new after standby", async () => {
    await fresh();
    const old = await issue("old");
    expect(await logsIn(old)).toBe(true);
    const [settled] = await fingerprints();

    expect((await rotate(RotationPhase.INIT)).phase).toBe(RotationPhase.INIT);
    expect(await trustWhatWardenLists()).toHaveLength(2);
    // In init the old CA still signs: hosts are only learning the new one.
    expect((await issue("during-init")).ca).toBe(settled!.fingerprint);

    expect((await rotate(RotationPhase.UPDATE_CLIENTS)).phase).toBe(RotationPhase.UPDATE_CLIENTS);
    const next = await issue("new");
    expect(next.ca).not.toBe(settled!.fingerprint);
    expect((await fingerprints()).find((a) => a.signing)!.fingerprint).toBe(next.ca);
    expect([await logsIn(old), await logsIn(next)]).toEqual([true, true]);

    expect((await rotate(RotationPhase.UPDATE_SERVERS)).phase).toBe(RotationPhase.UPDATE_SERVERS);
    await trustWhatWardenLists();
    expect([await logsIn(old), await logsIn(next)]).toEqual([true, true]);

    expect((await rotate(RotationPhase.STANDBY)).phase).toBe(RotationPhase.STANDBY);
    expect(await trustWhatWardenLists()).toHaveLength(1);
    expect((await fingerprints()).map((a) => a.fingerprint)).toEqual([next.ca]);
    expect([await logsIn(old), await logsIn(next)]).toEqual([false, true]);
    expect(sshd.log()).toContain("CA ED25519");
    expect((await auditOf(t, "ca.rotate", admin.userId)).length).toBe(4);
  });

  it("rollback from update_clients: the new CA is dropped and the old one signs again, alone", async () => {
    await fresh();
    const [settled] = await fingerprints();
    await rotate(RotationPhase.INIT);
    await rotate(RotationPhase.UPDATE_CLIENTS);
    await trustWhatWardenLists();
    const fromNew = await issue("from-new");
    expect(fromNew.ca).not.toBe(settled!.fingerprint);

    expect((await rotate(RotationPhase.ROLLBACK)).phase).toBe(RotationPhase.STANDBY);
    expect(await trustWhatWardenLists()).toHaveLength(1);
    const back = await issue("back");
    expect(back.ca).toBe(settled!.fingerprint);
    expect([await logsIn(back), await logsIn(fromNew)]).toEqual([true, false]);
    expect(parseSshPublicKey((await fingerprints())[0]!.publicKey).type).toBe("ssh-ed25519");
  });
});
