import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope, ApiKeyService } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { CertificateAuthorityService } from "../../gen/warden/ca/v1/ca_service_pb.js";
import { OrganizationService } from "../../gen/warden/org/v1/organization_service_pb.js";
import { RoleService, type RoleSchema } from "../../gen/warden/rbac/v1/role_service_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { decodeCertificate } from "../../src/crypto/ssh/ssh-certificate.js";
import { parseSshPublicKey } from "../../src/crypto/ssh/ssh-public-key.js";
import { expectFailure } from "../helpers/expect-error.js";
import { signUp } from "../helpers/mfa-world.js";
import { HAS_SSHD, runSsh, SSH_TEST_LOGIN, sshdWithTestHostCa } from "../helpers/sshd.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);

/**
 * AuthService/IssueUserCerts and CertificateAuthorityService/GetTrustedCAs: certificates signed
 * by the cluster's user CA, with the logins, TTL cap and extensions of the caller's roles, and
 * accepted by a real sshd that trusts that CA (and refused by it for a login the roles lack).
 */
describe("SSH user certificates", () => {
  let t: TestApp;
  let auth: Client<typeof AuthService>;
  let roles: Client<typeof RoleService>;
  let admin: ReturnType<typeof bearer>;
  const dir = mkdtempSync(join(tmpdir(), "warden-ssh-user-"));

  beforeAll(async () => {
    t = await createTestApp();
    auth = t.client(AuthService);
    roles = t.client(RoleService);
    admin = bearer((await auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  async function keyPair(name: string, ...type: string[]): Promise<{ path: string; line: string }> {
    const path = join(dir, name);
    await run("ssh-keygen", ["-q", "-t", ...(type.length ? type : ["ed25519"]), "-N", "", "-C", name, "-f", path]);
    return { path, line: readFileSync(`${path}.pub`, "utf8").trim() };
  }
  async function userCa(): Promise<Uint8Array> {
    const r = await t.client(CertificateAuthorityService).getTrustedCAs({}, admin);
    return parseSshPublicKey(r.userCaAuthorizedKeys[0]!.replace(/^cert-authority /, "")).blob;
  }
  /** A role with SSH logins, and a user holding it (signed in). */
  async function sshUser(
    tag: string,
    ssh: Pick<MessageInitShape<typeof RoleSchema>, "logins" | "maxSessionTtl" | "sshPermissions">,
  ): Promise<ReturnType<typeof bearer>> {
    const name = `ssh-${tag}`;
    await roles.createRole({ role: { name, description: tag, rules: [{ resources: ["session"], verbs: ["get"], effect: 1 }], ...ssh } }, admin);
    const user = await signUp(t, tag);
    await t.client(UserService).updateUser({ id: user.userId, roles: [name], updateRoles: true }, admin);
    return bearer((await auth.login({ email: user.email, password: "violet-Harbor-mosaic-2931" })).accessToken);
  }

  it("GetTrustedCAs gives the user CA for sshd and the host CA for known_hosts, the same on every call", async () => {
    const ca = t.client(CertificateAuthorityService);
    const first = await ca.getTrustedCAs({}, admin);
    expect(first.userCaAuthorizedKeys).toEqual([expect.stringMatching(/^cert-authority ssh-ed25519 [A-Za-z0-9+/=]+ warden-user-ca$/)]);
    expect(first.hostCaKnownHosts).toEqual([expect.stringMatching(/^@cert-authority \* ssh-ed25519 [A-Za-z0-9+/=]+ warden-host-ca$/)]);
    expect(first.authorities.map((a) => [a.kind, a.fingerprint.startsWith("SHA256:")])).toEqual([
      ["user", true],
      ["host", true],
    ]);
    // ssh-keygen agrees on the fingerprint.
    const pub = join(dir, "user-ca.pub");
    writeFileSync(pub, `${first.authorities[0]!.publicKey}\n`);
    expect((await run("ssh-keygen", ["-lf", pub])).stdout.split(" ")[1]).toBe(first.authorities[0]!.fingerprint);
    expect(await ca.getTrustedCAs({}, admin)).toEqual(first);
  });

  it("issues a certificate with the union of the roles' logins, the smallest TTL cap and the permitted extensions", async () => {
    const as = await sshUser("ops", {
      logins: ["deploy", "root"],
      maxSessionTtl: { seconds: 3600n },
      sshPermissions: { permitPty: true, permitAgentForwarding: true },
    });
    const { line } = await keyPair("ops-key");
    const r = await auth.issueUserCerts({ publicKey: line, ttl: { seconds: 10n * 3600n } }, as);
    const cert = decodeCertificate(r.sshCertificate, { trustedCa: await userCa() });
    expect(cert.certType).toBe("user");
    expect(cert.principals).toEqual(["deploy", "root"]);
    expect(r.principals).toEqual(["deploy", "root"]);
    expect(Object.keys(cert.extensions).sort()).toEqual(["permit-agent-forwarding", "permit-pty"]);
    expect(cert.publicKey.blob).toEqual(parseSshPublicKey(line).blob);
    // Asked for 10 hours, capped at the role's hour; back-dated a minute for clock skew.
    const now = t.clock.now().getTime();
    expect((cert.validBefore as Date).getTime() - now).toBeLessThanOrEqual(3600_000);
    expect((cert.validBefore as Date).getTime() - now).toBeGreaterThan(3590_000);
    expect(now - cert.validAfter.getTime()).toBeGreaterThanOrEqual(59_000);
    expect(r.trustedHostCas).toEqual((await t.client(CertificateAuthorityService).getTrustedCAs({}, admin)).hostCaKnownHosts);
    // ssh-keygen reads it as we wrote it.
    writeFileSync(join(dir, "ops-key-cert.pub"), `${r.sshCertificate}\n`);
    const listing = (await run("ssh-keygen", ["-L", "-f", join(dir, "ops-key-cert.pub")])).stdout;
    expect(listing).toContain("Type: ssh-ed25519-cert-v01@openssh.com user certificate");
    expect(listing).toMatch(/Principals: \n\s+deploy\n\s+root/);
    expect(listing).toContain("permit-pty");
  });

  it("accepts ECDSA and RSA user keys; refuses short RSA, garbage and certificates as keys", async () => {
    const as = await sshUser("keys", { logins: ["deploy"] });
    for (const type of [
      ["ecdsa", "-b", "256"],
      ["ecdsa", "-b", "521"],
      ["rsa", "-b", "3072"],
    ]) {
      const { line } = await keyPair(`k-${type.join("")}`, ...type);
      const r = await auth.issueUserCerts({ publicKey: line }, as);
      expect(r.sshCertificate.split(" ")[0]).toBe(`${line.split(" ")[0]}-cert-v01@openssh.com`);
    }
    const { line: short } = await keyPair("short-rsa", "rsa", "-b", "1024");
    await expectFailure(auth.issueUserCerts({ publicKey: short }, as), Code.InvalidArgument);
    await expectFailure(auth.issueUserCerts({ publicKey: "ssh-ed25519 not-base64!" }, as), Code.InvalidArgument);
    const issued = await auth.issueUserCerts({ publicKey: (await keyPair("again")).line }, as);
    await expectFailure(auth.issueUserCerts({ publicKey: issued.sshCertificate }, as), Code.InvalidArgument);
  });

  it("refuses users whose roles grant no login, and machine credentials", async () => {
    const plain = await signUp(t, "no-logins");
    await expectFailure(auth.issueUserCerts({ publicKey: (await keyPair("plain")).line }, plain.h), Code.PermissionDenied, "SSH_LOGINS_REQUIRED");
    const { organization } = await t.client(OrganizationService).createOrganization({ name: "ssh keys org" }, plain.h);
    const key = await t.client(ApiKeyService).createApiKey({ organizationId: organization!.id, name: "ci", scopes: [ApiKeyScope.ADMIN] }, plain.h);
    await expectFailure(auth.issueUserCerts({ publicKey: (await keyPair("machine")).line }, bearer(key.secret)), Code.PermissionDenied);
  });

  it("the built-in admin role has no logins until an admin adds some, and only its SSH section may change", async () => {
    const { role } = await roles.getRole({ name: "admin" }, admin);
    expect(role!.logins).toEqual([]);
    await expectFailure(auth.issueUserCerts({ publicKey: (await keyPair("admin-key")).line }, admin), Code.PermissionDenied, "SSH_LOGINS_REQUIRED");
    await expectFailure(roles.updateRole({ role: { ...role!, description: "changed" } }, admin), Code.FailedPrecondition, "ROLE_BUILTIN");
    const updated = await roles.updateRole({ role: { ...role!, logins: ["root"] } }, admin);
    expect(updated.role!.logins).toEqual(["root"]);
    const admin2 = bearer((await auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
    expect((await auth.issueUserCerts({ publicKey: (await keyPair("admin-key2")).line }, admin2)).principals).toEqual(["root"]);
  });

  describe.skipIf(!HAS_SSHD)("[needs /usr/sbin/sshd (openssh-server)] with a real sshd trusting the user CA", () => {
    it("ssh logs in with the issued certificate as a login of the roles, and sshd refuses one the roles lack", async () => {
      const as = await sshUser("shell", { logins: [SSH_TEST_LOGIN], sshPermissions: { permitPty: true } });
      const key = await keyPair("shell-key");
      const r = await auth.issueUserCerts({ publicKey: key.line, ttl: { seconds: 600n } }, as);
      writeFileSync(`${key.path}-cert.pub`, `${r.sshCertificate}\n`);
      const trusted = await t.client(CertificateAuthorityService).getTrustedCAs({}, admin);
      writeFileSync(join(dir, "trusted-user-ca"), `${trusted.userCaAuthorizedKeys[0]!.replace(/^cert-authority /, "")}\n`);
      const { sshd, knownHosts } = await sshdWithTestHostCa(dir, "warden-ca", join(dir, "trusted-user-ca"));
      try {
        const login = { port: sshd.port, user: SSH_TEST_LOGIN, identity: key.path, certificate: `${key.path}-cert.pub`, knownHosts, home: dir };
        const ok = await runSsh(login, ["echo", "certified"]);
        expect(ok.stdout.trim(), ok.stderr).toBe("certified");
        const refused = await runSsh({ ...login, user: "nobody" }, ["echo", "should-not-run"]);
        expect(refused.code).not.toBe(0);
        expect(sshd.log()).toContain("is not a listed principal");
      } finally {
        await sshd.stop();
      }
    });
  });
});
