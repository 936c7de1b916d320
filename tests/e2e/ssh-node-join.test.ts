import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "../../gen/warden/agent/v1/agent_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { CertificateAuthorityKind, CertificateAuthorityService, RotationPhase } from "../../gen/warden/ca/v1/ca_service_pb.js";
import { JoinService, type GenerateHostCertsResponse } from "../../gen/warden/join/v1/join_service_pb.js";
import { MfaService } from "../../gen/warden/mfa/v1/mfa_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { decodeCertificate } from "../../src/crypto/ssh/ssh-certificate.js";
import { ed25519PublicKeyLine } from "../../src/crypto/ssh/ssh-public-key.js";
import { addTotp, signUp, totpAt, type TotpMember } from "../helpers/mfa-world.js";
import { HAS_SSHD, runSsh, SSH_TEST_LOGIN, startSshd, type Sshd, type SshResult } from "../helpers/sshd.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);
/** ssh-keygen prints validity in local time: pin it. */
const UTC = { env: { ...process.env, TZ: "UTC" } };
const HOST = CertificateAuthorityKind.HOST;
/** sshd runs commands as a real local account: the one running the tests. */
const LOGIN = SSH_TEST_LOGIN;
/** The manual clock runs this far behind real time (sshd's clock): see the expiry test. */
const BEHIND_MS = 10 * 60_000;
/** The rotation tests log in a few times each; a login runs the account's shell start-up files (slow on a busy machine). */
const SLOW_TEST_MS = 90_000;

/** A node as a join leaves it: its host key, WARDEN's certificate for it, and the sshd serving both. */
interface Node {
  name: string;
  hostname: string;
  key: { path: string; line: string };
  certs: GenerateHostCertsResponse;
  sshd: Sshd;
}

/**
 * The node join checked end to end with the real OpenSSH tools: a node's ssh-keygen host key
 * certified by WARDEN's host CA (JoinService/GenerateHostCerts with a join token), a real sshd
 * serving that certificate and trusting the user CAs GetTrustedCAs lists, RegisterAgent with the
 * same token and key; then a user's certificate (AuthService/IssueUserCerts) used by a real ssh
 * that verifies the host with the `@cert-authority` lines only. And a host-CA rotation: what
 * clients trust at each phase against nodes holding old-CA and new-CA certificates.
 */
describe.skipIf(!HAS_SSHD)("[needs /usr/sbin/sshd (openssh-server)] node join with real sshd and ssh", () => {
  let t: TestApp;
  let join_: Client<typeof JoinService>;
  let ca: Client<typeof CertificateAuthorityService>;
  let admin: TotpMember;
  let user: ReturnType<typeof bearer>;
  let userKey: { path: string; line: string };
  /** The user's certificate (IssueUserCerts), good for LOGIN for an hour. */
  let userCert: string;
  let nodeA: Node;
  const dir = mkdtempSync(join(tmpdir(), "warden-node-join-"));
  const running: Sshd[] = [];

  beforeAll(async () => {
    // Behind real time: certificates the app signs now are valid for sshd too (they start a
    // minute before the manual clock, which is well before real time), and one with a TTL
    // shorter than the lag has already expired for sshd while the app still thinks it valid.
    t = await createTestApp({}, { startAt: new Date(Date.now() - BEHIND_MS) });
    join_ = t.client(JoinService);
    ca = t.client(CertificateAuthorityService);
    const auth = t.client(AuthService);
    const login = await auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    admin = await addTotp(t, {
      email: ADMIN_EMAIL,
      userId: login.user!.id,
      token: login.accessToken,
      refreshToken: login.refreshToken,
      h: bearer(login.accessToken),
    });

    await t.client(RoleService).createRole(
      {
        role: {
          name: "node-shell",
          description: "shell on joined nodes",
          rules: [{ resources: ["session"], verbs: ["get"], effect: 1 }],
          logins: [LOGIN],
          sshPermissions: { permitPty: true, permitPortForwarding: true },
        },
      },
      admin.h,
    );
    const member = await signUp(t, "node-shell");
    await t.client(UserService).updateUser({ id: member.userId, roles: ["node-shell"], updateRoles: true }, admin.h);
    user = bearer((await auth.login({ email: member.email, password: STRONG_PASSWORD })).accessToken);
    userKey = await keygen("user-key");
    userCert = await issueUserCert("user-key", 3600n);

    nodeA = await joinNode("node-a", ["127.0.0.1"]);
  });
  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  async function keygen(name: string): Promise<{ path: string; line: string }> {
    const path = join(dir, name);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path]);
    return { path, line: readFileSync(`${path}.pub`, "utf8").trim() };
  }
  async function listing(file: string): Promise<string> {
    return (await run("ssh-keygen", ["-L", "-f", file], UTC)).stdout;
  }
  /** "from X to Y" of a listing; X and Y as ISO seconds (UTC). */
  function validity(text: string): { from: string; to: string } {
    const m = /Valid: from (\S+) to (\S+)/.exec(text);
    if (!m) throw new Error(`no validity in:\n${text}`);
    return { from: m[1]!, to: m[2]! };
  }
  const isoSeconds = (d: Date) => d.toISOString().slice(0, 19);

  async function issueUserCert(name: string, ttlSeconds: bigint): Promise<string> {
    const r = await t.client(AuthService).issueUserCerts({ publicKey: userKey.line, ttl: { seconds: ttlSeconds } }, user);
    const file = join(dir, `${name}-cert.pub`);
    writeFileSync(file, `${r.sshCertificate}\n`);
    return file;
  }

  /** A fresh one-use join token (admin). */
  const joinToken = async (name: string) => (await join_.createJoinToken({ uses: 1, labels: { e2e: name }, ttl: { seconds: 600n } }, admin.h)).token;

  /** GenerateHostCerts for the node's key with a new token; the certificate written as <key>-cert.pub. */
  async function certify(name: string, key: { path: string; line: string }, addresses: string[], token?: string): Promise<GenerateHostCertsResponse> {
    const certs = await join_.generateHostCerts({ token: token ?? (await joinToken(name)), hostPublicKey: key.line, hostname: `${name}.e2e.test`, addresses });
    writeFileSync(`${key.path}-cert.pub`, `${certs.sshHostCertificate}\n`);
    return certs;
  }

  /** sshd for the node's key and the certificate beside it, trusting the user CAs WARDEN lists now. */
  async function serve(name: string, key: { path: string }): Promise<Sshd> {
    const trustedUserCaKeys = join(dir, `${name}-trusted-user-ca-keys`);
    const lines = (await ca.getTrustedCAs({}, admin.h)).userCaAuthorizedKeys.map((l) => l.replace(/^cert-authority /, ""));
    writeFileSync(trustedUserCaKeys, `${lines.join("\n")}\n`);
    const sshd = await startSshd({ dir, name, hostKey: key.path, hostCertificate: `${key.path}-cert.pub`, trustedUserCaKeys });
    running.push(sshd);
    return sshd;
  }

  /** The whole join: host key, token, GenerateHostCerts, sshd started, RegisterAgent with the same token and key. */
  async function joinNode(name: string, addresses: string[]): Promise<Node> {
    const key = await keygen(`${name}-host-key`);
    const token = await joinToken(name);
    const certs = await certify(name, key, addresses, token);
    const sshd = await serve(name, key);
    const hostname = `${name}.e2e.test`;
    const registered = await join_.registerAgent({ token, hostname, addresses, hostPublicKey: key.line, version: "e2e" });
    expect(registered.agentId).toBe(certs.agentId);
    return { name, hostname, key, certs, sshd };
  }

  /**
   * A node renewing its host certificate: GenerateHostCerts for the same key, and sshd restarted
   * with the new certificate. With a new join token: RegisterAgent spent the node's own, and no
   * RPC renews a registered node's certificate (the new token binds the key under a new id).
   */
  async function recertify(node: Node): Promise<Node> {
    const certs = await certify(node.name, node.key, ["127.0.0.1"]);
    await node.sshd.stop();
    running.splice(running.indexOf(node.sshd), 1);
    return { ...node, certs, sshd: await serve(node.name, node.key) };
  }

  /** known_hosts holding these `@cert-authority * ...` lines (and nothing else). */
  function knownHosts(name: string, lines: string[]): string {
    const file = join(dir, `${name}-known_hosts`);
    writeFileSync(file, `${lines.join("\n")}\n`);
    return file;
  }
  /** known_hosts as a client makes it from GetTrustedCAs now. */
  const trustedHostCas = async (name: string) => knownHosts(name, (await ca.getTrustedCAs({}, admin.h)).hostCaKnownHosts);

  function ssh(node: Node, knownHostsFile: string, opts: { user?: string; certificate?: string } = {}): Promise<SshResult> {
    return runSsh(
      {
        port: node.sshd.port,
        user: opts.user ?? LOGIN,
        identity: userKey.path,
        certificate: opts.certificate ?? userCert,
        knownHosts: knownHostsFile,
        home: dir,
      },
      ["whoami"],
    );
  }
  /**
   * For each node, whether ssh (verifying the host against `knownHostsFile` only) ran the command
   * there; a refusal must be the host's verification. In parallel: each login runs the account's
   * shell start-up files, which can take seconds.
   */
  async function reachable(nodes: Node[], knownHostsFile: string): Promise<boolean[]> {
    return Promise.all(
      nodes.map(async (node) => {
        const r = await ssh(node, knownHostsFile);
        if (r.code === 0) expect(r.stdout.trim()).toBe(LOGIN);
        else expect(r.stderr).toContain("Host key verification failed");
        return r.code === 0;
      }),
    );
  }

  /** A fresh second-factor proof on the admin's session (RotateCA needs one). */
  async function fresh(): Promise<void> {
    t.clock.advance(30);
    expect((await t.client(MfaService).validateTotp({ code: totpAt(admin.secret, t.clock) }, admin.h)).valid).toBe(true);
  }
  const rotate = async (phase: RotationPhase) => (await ca.rotateCA({ kind: HOST, phase }, admin.h)).phase;
  const hostAuthorities = async () => (await ca.getTrustedCAs({}, admin.h)).authorities.filter((a) => a.kind === "host");
  const signedBy = (certs: GenerateHostCertsResponse) => decodeCertificate(certs.sshHostCertificate).signatureKeyFingerprint;

  it("the joined node's sshd serves WARDEN's host certificate: a host certificate for its names and 127.0.0.1, signed by the host CA", async () => {
    const [hostCa] = await hostAuthorities();
    const text = await listing(`${nodeA.key.path}-cert.pub`);
    expect(text).toContain("Type: ssh-ed25519-cert-v01@openssh.com host certificate");
    expect(text).toContain(`Signing CA: ED25519 ${hostCa!.fingerprint}`);
    const principals = /Principals: \n((?:\s{16}\S+\n)+)/.exec(text)![1]!.trim().split(/\s+/);
    expect(principals.sort()).toEqual([nodeA.hostname, "127.0.0.1", nodeA.certs.agentId, `${nodeA.certs.agentId}.warden`].sort());
    expect(validity(text).to).toBe(isoSeconds(timestampDate(nodeA.certs.validBefore!)));
    // Back-dated a minute from the (manual) clock of the join; before real time, so sshd's clock is inside.
    expect(validity(text).from).toBe(isoSeconds(new Date(t.clock.now().getTime() - 60_000)));

    // What the running sshd presents is that certificate.
    const scanned = (await run("ssh-keyscan", ["-c", "-t", "ed25519", "-p", String(nodeA.sshd.port), "127.0.0.1"])).stdout;
    expect(scanned).toContain(nodeA.certs.sshHostCertificate.split(" ").slice(0, 2).join(" "));

    // RegisterAgent committed the node under the certified key.
    const fingerprint = (await run("ssh-keygen", ["-lf", `${nodeA.key.path}.pub`])).stdout.split(" ")[1];
    const listed = (await t.client(AgentService).listNodes({ labelSelector: "e2e=node-a" }, admin.h)).nodes;
    expect(listed.map((n) => [n.id, n.hostname, n.hostKeyFingerprint])).toEqual([[nodeA.certs.agentId, nodeA.hostname, fingerprint]]);
    // The node was given the user CAs that GetTrustedCAs lists.
    expect(nodeA.certs.userCaAuthorizedKeys).toEqual((await ca.getTrustedCAs({}, admin.h)).userCaAuthorizedKeys);
  });

  it("ssh with the user's certificate runs a command on the node, trusting the host by @cert-authority alone; ssh-keygen -L shows the role's extensions", async () => {
    const issued = await t.client(AuthService).issueUserCerts({ publicKey: userKey.line }, user);
    const known = knownHosts("user", issued.trustedHostCas);
    expect(issued.trustedHostCas).toEqual((await ca.getTrustedCAs({}, admin.h)).hostCaKnownHosts);
    const ok = await ssh(nodeA, known);
    expect(ok.stdout.trim(), ok.stderr).toBe(LOGIN);
    expect(nodeA.sshd.log()).toMatch(new RegExp(`Accepted publickey for ${LOGIN} from 127\\.0\\.0\\.1 port \\d+ ssh2: ED25519-CERT`));

    const text = await listing(userCert);
    expect(text).toContain("Type: ssh-ed25519-cert-v01@openssh.com user certificate");
    expect(text).toMatch(new RegExp(`Principals: \\n\\s+${LOGIN}\\n\\s+Critical Options: \\(none\\)`));
    const extensions = /Extensions: \n((?:\s{16}\S+\n?)+)/.exec(text)![1]!.trim().split(/\s+/);
    expect(extensions.sort()).toEqual(["permit-port-forwarding", "permit-pty"]);

    // A known_hosts trusting another CA (or none) leaves the host unverified: ssh refuses it.
    const rogue = ed25519PublicKeyLine(generateKeyPairSync("ed25519").publicKey, "rogue-host-ca").line;
    expect(await reachable([nodeA], knownHosts("rogue", [`@cert-authority * ${rogue}`]))).toEqual([false]);
    expect(await reachable([nodeA], knownHosts("empty", []))).toEqual([false]);
  });

  it("sshd refuses a login the user's roles lack, and an expired certificate", async () => {
    const known = await trustedHostCas("refusals");
    const wrongLogin = await ssh(nodeA, known, { user: "nobody" });
    expect(wrongLogin.code).not.toBe(0);
    expect(wrongLogin.stdout).toBe("");
    expect(nodeA.sshd.log()).toContain("Certificate invalid: name is not a listed principal");

    // Two minutes from the manual clock, which is ten minutes behind sshd's: valid for the app, past for sshd.
    const expired = await issueUserCert("expired", 120n);
    const cert = decodeCertificate(readFileSync(expired, "utf8"));
    expect(cert.validBefore > t.clock.now()).toBe(true);
    expect((cert.validBefore as Date).getTime()).toBeLessThan(Date.now());
    const refused = await ssh(nodeA, known, { certificate: expired });
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe("");
    expect(nodeA.sshd.log()).toContain("Certificate invalid: expired");
  });

  it("a node certified without its address: the host certificate does not name 127.0.0.1, and ssh refuses the host", async () => {
    const bare = await joinNode("node-bare", []);
    const text = await listing(`${bare.key.path}-cert.pub`);
    expect(text).toContain(bare.hostname);
    expect(text).not.toContain("127.0.0.1");
    const r = await ssh(bare, await trustedHostCas("bare"));
    expect(r.code).toBe(255);
    expect(r.stderr).toContain("Certificate invalid: name is not a listed principal");
    expect(r.stderr).toContain("Host key verification failed");
    // Nothing reached sshd's authentication.
    expect(bare.sshd.log()).not.toContain("Accepted publickey");
  });

  it("host-CA rotation: both CAs' nodes are accepted during the update phases; after standby only the new CA's", { timeout: SLOW_TEST_MS }, async () => {
    let nodeB = await joinNode("node-b", ["127.0.0.1"]);
    const [settled] = await hostAuthorities();
    const beforeRotation = await trustedHostCas("before-rotation");

    await fresh();
    expect(await rotate(RotationPhase.INIT)).toBe(RotationPhase.INIT);
    // Clients learn the new CA in init, before anything is signed with it.
    const init = await ca.getTrustedCAs({}, admin.h);
    expect(init.hostCaKnownHosts).toHaveLength(2);
    const bothCas = knownHosts("both", init.hostCaKnownHosts);

    expect(await rotate(RotationPhase.UPDATE_CLIENTS)).toBe(RotationPhase.UPDATE_CLIENTS);
    nodeB = await recertify(nodeB);
    const [, next] = await hostAuthorities();
    expect(next!.signing).toBe(true);
    expect(signedBy(nodeB.certs)).toBe(next!.fingerprint);
    expect(signedBy(nodeA.certs)).toBe(settled!.fingerprint);
    expect(await reachable([nodeA, nodeB], bothCas)).toEqual([true, true]);
    // A client that never learned the new CA refuses the re-certified node: why init comes first.
    expect(await reachable([nodeB], beforeRotation)).toEqual([false]);

    expect(await rotate(RotationPhase.UPDATE_SERVERS)).toBe(RotationPhase.UPDATE_SERVERS);
    expect((await ca.getTrustedCAs({}, admin.h)).hostCaKnownHosts).toEqual(init.hostCaKnownHosts);
    expect(await reachable([nodeA, nodeB], bothCas)).toEqual([true, true]);

    expect(await rotate(RotationPhase.STANDBY)).toBe(RotationPhase.STANDBY);
    const afterStandby = await ca.getTrustedCAs({}, admin.h);
    expect((await hostAuthorities()).map((a) => a.fingerprint)).toEqual([next!.fingerprint]);
    expect(afterStandby.hostCaKnownHosts).toEqual([init.hostCaKnownHosts[1]]);
    const onlyNew = knownHosts("only-new", afterStandby.hostCaKnownHosts);
    expect(await reachable([nodeA, nodeB], onlyNew)).toEqual([false, true]);
  });

  it("host-CA rollback: the rotating CA's certificates stop working and the settled CA signs again", { timeout: SLOW_TEST_MS }, async () => {
    const nodeC = await joinNode("node-c", ["127.0.0.1"]);
    const [settled] = await hostAuthorities();
    expect(signedBy(nodeC.certs)).toBe(settled!.fingerprint);

    await fresh();
    await rotate(RotationPhase.INIT);
    await rotate(RotationPhase.UPDATE_CLIENTS);
    const bothCas = await trustedHostCas("rollback-both");
    nodeA = await recertify(nodeA);
    expect(signedBy(nodeA.certs)).not.toBe(settled!.fingerprint);
    expect(await reachable([nodeA, nodeC], bothCas)).toEqual([true, true]);

    expect(await rotate(RotationPhase.ROLLBACK)).toBe(RotationPhase.STANDBY);
    expect((await hostAuthorities()).map((a) => a.fingerprint)).toEqual([settled!.fingerprint]);
    const afterRollback = await trustedHostCas("after-rollback");
    expect(await reachable([nodeA, nodeC], afterRollback)).toEqual([false, true]);

    nodeA = await recertify(nodeA);
    expect(signedBy(nodeA.certs)).toBe(settled!.fingerprint);
    expect(await reachable([nodeA], afterRollback)).toEqual([true]);
  });
});
