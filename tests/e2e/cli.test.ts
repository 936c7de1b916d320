import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { CertificateAuthorityService } from "../../gen/warden/ca/v1/ca_service_pb.js";
import { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { Code } from "@connectrpc/connect";
import { expectError } from "../helpers/expect-error.js";
import { addTotp, signUp, totpAt, wrongTotp, type TotpMember } from "../helpers/mfa-world.js";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { useServedApp } from "../helpers/served-app.js";
import { REPO_ROOT } from "../helpers/server-process.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { uniqueEmail } from "../helpers/unique.js";
import { HAS_SSHD, runSsh, SSH_TEST_LOGIN, startSshd, type Sshd } from "../helpers/sshd.js";

/**
 * The `warden` CLI (bin/warden.mjs) as a user runs it: a child process with its own HOME,
 * talking Connect to Warden served on a real port, its password and TOTP code piped to stdin.
 * The server's clock is the test app's manual clock, so expiry needs no sleeping.
 */

const run = promisify(execFile);
const BIN = join(REPO_ROOT, "bin", "warden.mjs");
/** A CLI run costs a second or more (tsx loads the TypeScript): runs that do not depend on each other go together. */
const CLI_TEST = { timeout: 60_000 };

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const homes: string[] = [];
afterAll(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

function newHome(): string {
  const home = mkdtempSync(join(tmpdir(), "warden-cli-home-"));
  homes.push(home);
  return home;
}

/** `node bin/warden.mjs ...args` with HOME (and nothing of Warden's) from the test; `input` is piped to stdin. */
function warden(home: string, args: string[], input = "", env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: home,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, TMPDIR: tmpdir(), ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** A run that must succeed; its stdout parsed as JSON. */
async function wardenJson<T = any>(home: string, args: string[], input = ""): Promise<T> {
  const r = await warden(home, [...args, "--json"], input);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

function profileOf(home: string, configHome = join(home, ".config")): Record<string, string> {
  return JSON.parse(readFileSync(join(configHome, "warden", "profile.json"), "utf8"));
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe("warden CLI", () => {
  const served = useServedApp();
  let t: TestApp;
  let server: string;
  let admin: ReturnType<typeof bearer>;
  /** The admin, signed in with the CLI. */
  const adminHome = newHome();
  /** A user with SSH logins, signed in with the CLI (logged out at the end). */
  let sshUserHome: string;

  const login = (home: string, email: string, input: string, env: Record<string, string> = {}) =>
    warden(home, ["login", "--server", server, "--email", email], input, env);

  beforeAll(async () => {
    ({ t } = served());
    server = served().server.url;
    admin = bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
  });

  it("usage: --help lists the commands; an unknown command, a missing argument or a bad value exits 2 with the usage", CLI_TEST, async () => {
    const home = newHome();
    const [help, unknown, missing, badTtl, noServer] = await Promise.all([
      warden(home, ["--help"]),
      warden(home, ["tokens", "burn"]),
      warden(home, ["tokens", "rm"]),
      warden(home, ["tokens", "add", "--ttl", "soon"]),
      warden(home, ["status"]),
    ]);
    expect(help.code).toBe(0);
    for (const command of ["login", "certs issue", "tokens add", "nodes ls", "agent-identities add NAME", "users get ID|EMAIL", "roles get NAME", "ca rotate"])
      expect(help.stdout).toContain(`  ${command} `);
    expect(unknown).toMatchObject({ code: 2, stdout: "" });
    expect(unknown.stderr).toMatch(/^error: unknown command "tokens burn"\n/);
    expect(unknown.stderr).toContain("tokens rm ID");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: expected ID\n\nusage: warden tokens rm ID/);
    expect(badTtl.code).toBe(2);
    expect(badTtl.stderr).toMatch(/^error: --ttl: "soon" is not a duration/);
    expect(noServer.code).toBe(2);
    expect(noServer.stderr).toMatch(/^error: which server\?/);
  });

  it("logs in with a piped password: the profile is 0600 in a 0700 directory and holds no password; status says who", CLI_TEST, async () => {
    const r = await login(adminHome, ADMIN_EMAIL, `${ADMIN_PASSWORD}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Logged in to ${server} as ${ADMIN_EMAIL}.\n`);
    const dir = join(adminHome, ".config", "warden");
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, "profile.json"))).toBe(0o600);
    const profile = profileOf(adminHome);
    expect(profile).toMatchObject({ server, email: ADMIN_EMAIL, accessToken: expect.any(String), refreshToken: expect.any(String) });
    expect(JSON.stringify(profile)).not.toContain(ADMIN_PASSWORD);
    expect(r.stdout + r.stderr).not.toContain(profile.accessToken);

    // The server comes from the profile now; the session is the one the server knows.
    const [status, text] = await Promise.all([wardenJson(adminHome, ["status"]), warden(adminHome, ["status"])]);
    expect(status).toMatchObject({ server, email: ADMIN_EMAIL, userId: profile.userId, session: { id: profile.sessionId, active: true } });
    expect(text.stdout).toMatch(new RegExp(`^Server: +${server}\nUser: +${ADMIN_EMAIL} \\(${profile.userId}\\)\n`));
  });

  it("a wrong password exits 1 with INVALID_CREDENTIALS on stderr and writes no profile; XDG_CONFIG_HOME is where the profile goes", CLI_TEST, async () => {
    const home = newHome();
    const xdg = join(home, "xdg");
    const r = await login(home, ADMIN_EMAIL, "not-the-password-at-all\n", { XDG_CONFIG_HOME: xdg });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^error: .+ \(INVALID_CREDENTIALS\)$/m);
    expect(existsSync(join(xdg, "warden", "profile.json"))).toBe(false);
    expect(existsSync(join(home, ".config"))).toBe(false);
  });

  it("tokens add / ls / rm as an admin, with --json parsed", CLI_TEST, async () => {
    const added = await wardenJson(adminHome, ["tokens", "add", "--uses", "2", "--ttl", "1h", "--label", "env=cli", "--label", "team=ops"]);
    expect(added.token).toMatch(/^wdn_j_/);
    expect(added.joinToken).toMatchObject({ roles: ["node"], uses: 2, usesRemaining: 2, labels: { env: "cli", team: "ops" }, spent: false });
    const lifetime = Date.parse(added.joinToken.expireTime) - t.clock.now().getTime();
    expect(lifetime).toBeGreaterThan(3590_000);
    expect(lifetime).toBeLessThanOrEqual(3600_000);
    const id: string = added.joinToken.id;

    const [listed, table] = await Promise.all([wardenJson(adminHome, ["tokens", "ls"]), warden(adminHome, ["tokens", "ls"])]);
    expect(listed.joinTokens.map((j: { id: string }) => j.id)).toContain(id);
    expect(JSON.stringify(listed)).not.toContain(added.token);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID +ROLES +USES LEFT +EXPIRES +STATE +LABELS$/);
    expect(table.stdout).toMatch(new RegExp(`^${id} +node +2/2 +\\S+ +active +env=cli,team=ops$`, "m"));

    const removed = await warden(adminHome, ["tokens", "rm", id]);
    expect(removed).toMatchObject({ code: 0, stdout: `Deleted join token ${id}.\n` });
    const [afterRemoval, again] = await Promise.all([wardenJson(adminHome, ["tokens", "ls"]), warden(adminHome, ["tokens", "rm", id])]);
    expect(afterRemoval.joinTokens.map((j: { id: string }) => j.id)).not.toContain(id);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: .+ \([A-Z_]+\)$/m);
  });

  it("nodes ls lists a node that registered, with --selector and --online filters; users ls, users get, roles get, ca ls", CLI_TEST, async () => {
    const { token } = await t.client(JoinService).createJoinToken({ labels: { env: "cli" } }, admin);
    const node = await t.client(JoinService).registerAgent({ token, hostname: "cli-node-1", addresses: ["10.1.2.3"], version: "9.9.9" });
    const [nodes, selected, nodeTable, users, user, role, cas] = await Promise.all([
      wardenJson(adminHome, ["nodes", "ls"]),
      wardenJson(adminHome, ["nodes", "ls", "--selector", "env=elsewhere"]),
      warden(adminHome, ["nodes", "ls", "--selector", "env=cli", "--online"]),
      wardenJson(adminHome, ["users", "ls"]),
      warden(adminHome, ["users", "get", ADMIN_EMAIL]),
      warden(adminHome, ["roles", "get", "admin"]),
      wardenJson(adminHome, ["ca", "ls"]),
    ]);
    expect(nodes.nodes).toContainEqual(
      expect.objectContaining({ id: node.agentId, hostname: "cli-node-1", addresses: ["10.1.2.3"], labels: { env: "cli" }, online: true, version: "9.9.9" }),
    );
    expect(selected.nodes).toEqual([]);
    expect(nodeTable.stdout).toMatch(new RegExp(`^cli-node-1 +${node.agentId} +online +10\\.1\\.2\\.3 +env=cli +\\S+ +9\\.9\\.9$`, "m"));

    expect(users.users).toContainEqual(expect.objectContaining({ email: ADMIN_EMAIL, admin: true }));
    expect(user.stdout).toMatch(new RegExp(`^Email: +${ADMIN_EMAIL}`, "m"));
    expect(user.stdout).toMatch(/^Admin: +yes$/m);
    expect(role.code, role.stderr).toBe(0);
    expect(role.stdout).toMatch(/^Name: +admin \(built in\)$/m);
    expect(role.stdout).toMatch(/^EFFECT +RESOURCES +VERBS$/m);
    const trusted = await t.client(CertificateAuthorityService).getTrustedCAs({}, admin);
    expect(cas.hostCaKnownHosts).toEqual(trusted.hostCaKnownHosts);
    expect(cas.authorities.map((a: { kind: string }) => a.kind)).toEqual(["user", "host"]);
  });

  it(
    "a user whose role grants SSH logins issues a certificate: key, certificate and known_hosts written; ssh-keygen -L shows the principals",
    CLI_TEST,
    async () => {
      await t
        .client(RoleService)
        .createRole(
          { role: { name: "cli-ssh", description: "cli", rules: [{ resources: ["session"], verbs: ["get"], effect: 1 }], logins: ["deploy", "ops"] } },
          admin,
        );
      const member = await signUp(t, "cli-ssh");
      await t.client(UserService).updateUser({ id: member.userId, roles: ["cli-ssh"], updateRoles: true }, admin);
      const home = newHome();
      expect((await login(home, member.email, `${STRONG_PASSWORD}\n`)).code).toBe(0);

      const dir = join(home, "keys");
      const issued = await wardenJson(home, ["certs", "issue", "--dir", dir, "--ttl", "2h"]);
      expect(issued).toMatchObject({
        privateKeyFile: join(dir, "id_ed25519"),
        certificateFile: join(dir, "id_ed25519-cert.pub"),
        knownHostsFile: join(dir, "known_hosts"),
        keyCreated: true,
        principals: ["deploy", "ops"],
      });
      expect(Date.parse(issued.validBefore) - t.clock.now().getTime()).toBeLessThanOrEqual(2 * 3600_000);
      expect(issued.sshCommand).toBe(
        `ssh -i ${dir}/id_ed25519 -o CertificateFile=${dir}/id_ed25519-cert.pub -o UserKnownHostsFile=${dir}/known_hosts deploy@HOST`,
      );
      expect(mode(join(dir, "id_ed25519"))).toBe(0o600);
      const listing = (await run("ssh-keygen", ["-L", "-f", issued.certificateFile])).stdout;
      expect(listing).toContain("Type: ssh-ed25519-cert-v01@openssh.com user certificate");
      expect(listing).toMatch(/Principals: \n\s+deploy\n\s+ops\n/);
      const trusted = await t.client(CertificateAuthorityService).getTrustedCAs({}, member.h);
      expect(readFileSync(issued.knownHostsFile, "utf8")).toBe(trusted.hostCaKnownHosts.map((l) => `${l}\n`).join(""));

      // Again: the key is kept (its certificate renewed), the human output says how to connect.
      const key = readFileSync(issued.privateKeyFile, "utf8");
      const again = await warden(home, ["certs", "issue", "--dir", dir]);
      expect(again.code, again.stderr).toBe(0);
      expect(readFileSync(issued.privateKeyFile, "utf8")).toBe(key);
      expect(again.stdout).toMatch(/^Logins: +deploy, ops$/m);
      expect(again.stdout).toContain(`\nConnect with:\n  ${issued.sshCommand}\n`);

      // Without a login in the roles (the built-in admin role has none) the server says why.
      const refused = await warden(adminHome, ["certs", "issue", "--dir", join(adminHome, "keys")]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^error: .+ \(SSH_LOGINS_REQUIRED\)$/m);
      sshUserHome = home;
    },
  );

  it("agent-identities add / ls / rm (when the server implements them)", CLI_TEST, async (ctx) => {
    const added = await warden(adminHome, ["agent-identities", "add", "cli-bot", "--role", "admin", "--ttl", "30m", "--json"]);
    if (added.code !== 0 && added.stderr.includes("(UNIMPLEMENTED)")) return ctx.skip();
    expect(added.code, added.stderr).toBe(0);
    const created = JSON.parse(added.stdout);
    expect(created.bootstrapToken).toMatch(/^wdn_b_/);
    expect(created.agentIdentity).toMatchObject({ name: "cli-bot", roles: ["admin"], certTtl: "1800s" });
    const id: string = created.agentIdentity.id;
    const listed = await wardenJson(adminHome, ["agent-identities", "ls"]);
    expect(listed.agentIdentities.map((i: { id: string }) => i.id)).toContain(id);
    expect(JSON.stringify(listed)).not.toContain(created.bootstrapToken);
    expect(await warden(adminHome, ["agent-identities", "rm", id])).toMatchObject({ code: 0 });
    expect((await wardenJson(adminHome, ["agent-identities", "ls"])).agentIdentities.map((i: { id: string }) => i.id)).not.toContain(id);
  });

  describe("an administrator with an authenticator", () => {
    let officer: TotpMember;
    const home = newHome();

    beforeAll(async () => {
      const email = uniqueEmail("cli-officer");
      const { user } = await t.client(UserService).createUser({ email, password: STRONG_PASSWORD, admin: true }, admin);
      const first = await t.client(AuthService).login({ email, password: STRONG_PASSWORD });
      officer = await addTotp(t, { email, userId: user!.id, token: first.accessToken, refreshToken: first.refreshToken, h: bearer(first.accessToken) });
    });

    it("logs in with the TOTP code piped after the password; a wrong code is refused with its reason", CLI_TEST, async () => {
      const wrong = await login(home, officer.email, `${STRONG_PASSWORD}\n${wrongTotp(officer.secret, t.clock)}\n`);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/^error: .+ \(MFA_CODE_INVALID\)$/m);

      const r = await login(home, officer.email, `${STRONG_PASSWORD}\n${totpAt(officer.secret, t.clock)}\n`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain("TOTP code:");
      expect(r.stdout).toBe(`Logged in to ${server} as ${officer.email} (with a second factor).\n`);
      expect((await wardenJson(home, ["status"])).session.authMethod).toBeTruthy();
    });

    it("ca rotate: right after a TOTP login it needs no code; later it asks for one and then rotates", CLI_TEST, async () => {
      const init = await wardenJson(home, ["ca", "rotate", "--kind", "host", "--phase", "init"]);
      expect(init.phase).toBe("ROTATION_PHASE_INIT");
      expect(init.authorities.filter((a: { kind: string }) => a.kind === "host")).toHaveLength(2);

      t.clock.advance(11 * 60);
      const stale = await warden(home, ["ca", "rotate", "--kind", "host", "--phase", "rollback"]);
      expect(stale.code).toBe(1);
      expect(stale.stderr).toMatch(/^error: no answer to "TOTP code:" on stdin$/m);

      const rolledBack = await warden(home, ["ca", "rotate", "--kind", "host", "--phase", "rollback"], `${totpAt(officer.secret, t.clock)}\n`);
      expect(rolledBack.code, rolledBack.stderr).toBe(0);
      expect(rolledBack.stderr).toContain("TOTP code:");
      expect(rolledBack.stdout).toMatch(/^The host CA is now in phase standby\.$/m);
      const hostCas = (await t.client(CertificateAuthorityService).getTrustedCAs({}, admin)).authorities.filter((a) => a.kind === "host");
      expect(hostCas).toHaveLength(1);
    });
  });

  it(
    "refreshes once when the server says the access token expired, and when the profile says so; a refused refresh forgets the session",
    CLI_TEST,
    async () => {
      const home = newHome();
      const member = await signUp(t, "cli-refresh");
      expect((await login(home, member.email, `${STRONG_PASSWORD}\n`)).code).toBe(0);
      const before = profileOf(home);
      // By the real clock the CLI reads, the token is good for minutes: only the server can say it expired.
      expect(Date.parse(before.expiresAt!)).toBeGreaterThan(Date.now() + 60_000);

      t.clock.advance(t.config.access_token_ttl + 30);
      await expectError(t.client(SessionService).validateSession({}, bearer(before.accessToken!)), Code.Unauthenticated, "TOKEN_EXPIRED");
      const status = await wardenJson(home, ["status"]);
      expect(status.userId).toBe(member.userId);
      const renewed = profileOf(home);
      expect(renewed.accessToken).not.toBe(before.accessToken);
      expect(renewed.refreshToken).not.toBe(before.refreshToken);
      expect(renewed.sessionId).toBe(before.sessionId);
      expect(mode(join(home, ".config", "warden", "profile.json"))).toBe(0o600);

      // Past the expiry the profile records: renewed before the call.
      writeFileSync(join(home, ".config", "warden", "profile.json"), JSON.stringify({ ...renewed, expiresAt: "2000-01-01T00:00:00.000Z" }), { mode: 0o600 });
      expect((await warden(home, ["status"])).code).toBe(0);
      // (The access token may come out the same: same claims at the same manual-clock second.)
      expect(profileOf(home).refreshToken).not.toBe(renewed.refreshToken);
      expect(profileOf(home).expiresAt).toBe(renewed.expiresAt);

      // A refresh token the server refuses: the error, a hint, and the tokens forgotten.
      writeFileSync(
        join(home, ".config", "warden", "profile.json"),
        JSON.stringify({ ...profileOf(home), refreshToken: "not-a-refresh-token", expiresAt: "2000-01-01T00:00:00.000Z" }),
        { mode: 0o600 },
      );
      const refused = await warden(home, ["status"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^error: .+ \(REFRESH_TOKEN_INVALID\)\nhint: run `warden login` to sign in again\n$/);
      expect(profileOf(home)).toEqual({ server, email: member.email });
    },
  );

  it("logout ends the session on the server and forgets the tokens", CLI_TEST, async () => {
    const home = sshUserHome;
    const { sessionId, email } = profileOf(home);
    // (Its access token expired with the clock moves above: logout renews it first.)
    expect(await warden(home, ["logout"])).toMatchObject({ code: 0, stdout: `Logged out of ${server}.\n` });
    expect(profileOf(home)).toEqual({ server, email });
    const now = bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
    const { session } = await t.client(SessionService).getSession({ id: sessionId! }, now);
    expect(session).toMatchObject({ active: false });
    const after = await warden(home, ["status"]);
    expect(after.code).toBe(1);
    expect(after.stderr).toBe(`error: not logged in to ${server}: run \`warden login\` (UNAUTHENTICATED)\n`);
  });
});

describe("warden CLI over TLS", () => {
  let pki: TestPki;
  let t: TestApp;
  let served: RunningServer;

  beforeAll(async () => {
    pki = makeTestPki();
    t = await createTestApp({ tls_cert_file: pki.server.cert, tls_key_file: pki.server.key });
    served = await startServer(t.app, "127.0.0.1:0");
  });
  afterAll(async () => {
    await served?.drain(200);
    await t?.close();
    pki?.cleanup();
  });

  it("trusts the cluster's CA from --ca-file (HTTP/2), remembers it, and refuses a server it cannot verify", CLI_TEST, async () => {
    const [untrustedHome, trustedHome] = [newHome(), newHome()];
    const url = served.url;
    expect(url).toMatch(/^https:/);
    const [untrusted, trusted] = await Promise.all([
      warden(untrustedHome, ["login", "--server", url, "--email", ADMIN_EMAIL], `${ADMIN_PASSWORD}\n`),
      warden(trustedHome, ["login", "--server", url, "--email", ADMIN_EMAIL, "--ca-file", pki.ca.cert], `${ADMIN_PASSWORD}\n`),
    ]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/^error: the server's TLS certificate is not trusted: .+ \([A-Z_]+\)\nhint: pass --ca-file /m);
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(profileOf(trustedHome)).toMatchObject({ server: url, caFile: pki.ca.cert });
    expect((await wardenJson(trustedHome, ["status"])).email).toBe(ADMIN_EMAIL);
  });
});

/**
 * The whole path a user takes: `warden login`, `warden certs issue`, then a real ssh client
 * through the sshd of a node that joined with a token (its host certificate from Warden), the host
 * verified only by the @cert-authority line the CLI wrote. Its own app: the server's clock must
 * stay on real time, which sshd checks certificates against.
 */
describe.skipIf(!HAS_SSHD)("[needs /usr/sbin/sshd (openssh-server)] warden CLI, then ssh to a joined node", () => {
  const served = useServedApp();
  const dir = mkdtempSync(join(tmpdir(), "warden-cli-ssh-"));
  let sshd: Sshd | undefined;
  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("logs in, issues a certificate and runs a command on the node; a login the roles do not grant is refused", CLI_TEST, async () => {
    const { t } = served();
    const admin = bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
    // The node: a host key certified at join, sshd trusting the user CA Warden lists.
    const hostKey = join(dir, "node-host-key");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "node", "-f", hostKey]);
    const hostPublicKey = readFileSync(`${hostKey}.pub`, "utf8").trim();
    const join_ = t.client(JoinService);
    const { token } = await join_.createJoinToken({ uses: 1, ttl: { seconds: 600n } }, admin);
    const certs = await join_.generateHostCerts({ token, hostPublicKey, hostname: "node.cli.test", addresses: ["127.0.0.1"] });
    writeFileSync(`${hostKey}-cert.pub`, `${certs.sshHostCertificate}\n`);
    const trustedUserCaKeys = join(dir, "trusted-user-ca-keys");
    const userCas = (await t.client(CertificateAuthorityService).getTrustedCAs({}, admin)).userCaAuthorizedKeys;
    writeFileSync(trustedUserCaKeys, `${userCas.map((l) => l.replace(/^cert-authority /, "")).join("\n")}\n`);
    sshd = await startSshd({ dir, name: "cli-node", hostKey, hostCertificate: `${hostKey}-cert.pub`, trustedUserCaKeys });
    await join_.registerAgent({ token, hostname: "node.cli.test", addresses: ["127.0.0.1"], hostPublicKey, version: "cli-e2e" });

    // The user: a role granting the test login, signed in and issued a certificate by the CLI.
    const rules = [{ resources: ["session"], verbs: ["get"], effect: 1 }];
    await t
      .client(RoleService)
      .createRole({ role: { name: "cli-node-ssh", description: "cli", rules, logins: [SSH_TEST_LOGIN], sshPermissions: { permitPty: true } } }, admin);
    const member = await signUp(t, "cli-node");
    await t.client(UserService).updateUser({ id: member.userId, roles: ["cli-node-ssh"], updateRoles: true }, admin);
    const home = newHome();
    const loggedIn = await warden(home, ["login", "--server", served().server.url, "--email", member.email], `${STRONG_PASSWORD}\n`);
    expect(loggedIn.code, loggedIn.stderr).toBe(0);
    const keys = join(home, "keys");
    const issued = await wardenJson(home, ["certs", "issue", "--dir", keys, "--ttl", "10m"]);
    expect(issued.principals).toEqual([SSH_TEST_LOGIN]);

    const as = (user: string) => ({
      port: sshd!.port,
      user,
      identity: issued.privateKeyFile,
      certificate: issued.certificateFile,
      knownHosts: issued.knownHostsFile,
      home,
    });
    const ran = await runSsh(as(SSH_TEST_LOGIN), ["echo", "hello-from-node"]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout.trim()).toBe("hello-from-node");
    // Not a principal of the certificate: sshd refuses it.
    const other = SSH_TEST_LOGIN === "root" ? "nobody" : "root";
    const refused = await runSsh(as(other), ["true"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Permission denied/);
  });
});
