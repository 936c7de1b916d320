import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeCertificate, encodeCertificate, type CertificateOptions } from "../../src/crypto/ssh/ssh-certificate.js";
import { ed25519PublicKeyLine, parseSshPublicKey, type SshPublicKey } from "../../src/crypto/ssh/ssh-public-key.js";
import { SshWireReader } from "../../src/crypto/ssh/ssh-wire.js";
import { HAS_SSHD, runSsh, SSH_TEST_LOGIN, SSHD_PATH, startSshd, type Sshd, type SshLogin } from "../helpers/sshd.js";

/** Certificates from our encoder, checked by the real OpenSSH tools: ssh-keygen -L, sshd and ssh. */

const run = promisify(execFile);
/** ssh-keygen prints and reads validity times in local time: pin it. */
const UTC = { env: { ...process.env, TZ: "UTC" } };

const dir = mkdtempSync(join(tmpdir(), "warden-ssh-cert-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Ca {
  privateKey: KeyObject;
  blob: Uint8Array;
  line: string;
  fingerprint: string;
}

function makeCa(name: string): Ca {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const { line, blob, fingerprint } = ed25519PublicKeyLine(publicKey, name);
  return { privateKey, blob, line, fingerprint };
}

/** `ssh-keygen -t ...` into the temp dir; returns the private key path and the parsed public key. */
async function sshKeygen(name: string, ...typeArgs: string[]): Promise<{ path: string; publicKey: SshPublicKey }> {
  const path = join(dir, name);
  await run("ssh-keygen", ["-q", "-t", ...typeArgs, "-N", "", "-C", `${name}@test`, "-f", path]);
  return { path, publicKey: parseSshPublicKey(readFileSync(`${path}.pub`, "utf8")) };
}

/** The SHA256 fingerprint `ssh-keygen -lf` prints for a public key file. */
async function keygenFingerprint(pubFile: string): Promise<string> {
  const { stdout } = await run("ssh-keygen", ["-lf", pubFile]);
  return stdout.split(" ")[1];
}

/** `ssh-keygen -L` output as fields; list sections (Principals, options) become arrays, "(none)" an empty one. */
async function keygenListing(certFile: string): Promise<Record<string, string | string[]>> {
  const { stdout } = await run("ssh-keygen", ["-L", "-f", certFile], UTC);
  const fields: Record<string, string | string[]> = {};
  let list: string[] | undefined;
  for (const row of stdout.split("\n").slice(1)) {
    const header = /^ {8}(\S[^:]*): ?(.*)$/.exec(row);
    if (header) {
      const [, name, value] = header;
      list = value === "" || value === "(none)" ? [] : undefined;
      fields[name] = list ?? value;
    } else if (row.trim() && list) list.push(row.trim());
  }
  return fields;
}

function writeCertificate(path: string, opts: CertificateOptions): string {
  writeFileSync(path, `${encodeCertificate(opts).line}\n`);
  return path;
}

const userCa = makeCa("warden-user-ca");
const hostCa = makeCa("warden-host-ca");
const rogueCa = makeCa("rogue-ca");

describe("ssh-keygen -L reads our certificates", () => {
  const userCaFile = join(dir, "user-ca.pub");
  const keys: Record<string, { path: string; publicKey: SshPublicKey }> = {};

  beforeAll(async () => {
    writeFileSync(userCaFile, `${userCa.line}\n`);
    const made = await Promise.all([
      sshKeygen("id_ed25519", "ed25519"),
      sshKeygen("id_ecdsa256", "ecdsa", "-b", "256"),
      sshKeygen("id_ecdsa384", "ecdsa", "-b", "384"),
      sshKeygen("id_ecdsa521", "ecdsa", "-b", "521"),
      sshKeygen("id_rsa", "rsa", "-b", "3072"),
      sshKeygen("ssh_host_ed25519_key", "ed25519"),
    ]);
    for (const key of made) keys[key.path.slice(dir.length + 1)] = key;
  });

  it("prints our CA's fingerprint as ssh-keygen computes it", async () => {
    expect(await keygenFingerprint(userCaFile)).toBe(userCa.fingerprint);
  });

  it.each([
    ["id_ed25519", "ssh-ed25519", "ED25519"],
    ["id_ecdsa256", "ecdsa-sha2-nistp256", "ECDSA"],
    ["id_ecdsa384", "ecdsa-sha2-nistp384", "ECDSA"],
    ["id_ecdsa521", "ecdsa-sha2-nistp521", "ECDSA"],
    ["id_rsa", "ssh-rsa", "RSA"],
  ])("lists a user certificate for %s with every field we encoded", async (name, type, kind) => {
    const { path, publicKey } = keys[name];
    expect(publicKey.type).toBe(type);
    const certFile = writeCertificate(`${path}-cert.pub`, {
      publicKey,
      caPrivateKey: userCa.privateKey,
      caPublicKeyBlob: userCa.blob,
      certType: "user",
      keyId: `alice@example.com/${name}`,
      serial: 1234567890123n,
      principals: ["alice", "root"],
      validAfter: new Date("2024-05-06T07:08:09Z"),
      validBefore: new Date("2031-12-24T18:00:00Z"),
      criticalOptions: { "source-address": "10.0.0.0/8,192.168.1.0/24", "force-command": "/usr/bin/true" },
      extensions: ["permit-pty", "permit-X11-forwarding", "permit-agent-forwarding"],
    });

    const listing = await keygenListing(certFile);
    expect(listing).toEqual({
      Type: `${type}-cert-v01@openssh.com user certificate`,
      "Public key": `${kind}-CERT ${await keygenFingerprint(`${path}.pub`)}`,
      "Signing CA": `ED25519 ${await keygenFingerprint(userCaFile)} (using ssh-ed25519)`,
      "Key ID": `"alice@example.com/${name}"`,
      Serial: "1234567890123",
      Valid: "from 2024-05-06T07:08:09 to 2031-12-24T18:00:00",
      Principals: ["alice", "root"],
      "Critical Options": ["force-command /usr/bin/true", "source-address 10.0.0.0/8,192.168.1.0/24"],
      Extensions: ["permit-X11-forwarding", "permit-agent-forwarding", "permit-pty"],
    });
  });

  it("lists a host certificate", async () => {
    const { path, publicKey } = keys.ssh_host_ed25519_key;
    const hostCaFile = join(dir, "host-ca.pub");
    writeFileSync(hostCaFile, `${hostCa.line}\n`);
    const certFile = writeCertificate(`${path}-cert.pub`, {
      publicKey,
      caPrivateKey: hostCa.privateKey,
      caPublicKeyBlob: hostCa.blob,
      certType: "host",
      keyId: "node-17.internal",
      serial: 0n,
      principals: ["node-17.internal", "10.1.2.3"],
      validAfter: new Date("2025-01-01T00:00:00Z"),
      validBefore: new Date("2026-01-01T00:00:00Z"),
      criticalOptions: {},
      extensions: [],
    });

    expect(await keygenListing(certFile)).toEqual({
      Type: "ssh-ed25519-cert-v01@openssh.com host certificate",
      "Public key": `ED25519-CERT ${await keygenFingerprint(`${path}.pub`)}`,
      "Signing CA": `ED25519 ${await keygenFingerprint(hostCaFile)} (using ssh-ed25519)`,
      "Key ID": '"node-17.internal"',
      Serial: "0",
      Valid: "from 2025-01-01T00:00:00 to 2026-01-01T00:00:00",
      Principals: ["node-17.internal", "10.1.2.3"],
      "Critical Options": [],
      Extensions: [],
    });
  });
});

describe("certificates signed by ssh-keygen -s", () => {
  it("decode, and re-encode byte for byte with the same CA key and nonce", async () => {
    const [ca, user] = await Promise.all([sshKeygen("keygen_ca", "ed25519"), sshKeygen("id_interop", "ecdsa", "-b", "384")]);
    const validity = ["-V", "20240101000000:20300101000000"];
    const critical = ["-O", "source-address=10.0.0.0/8", "-O", "force-command=/usr/bin/true"];
    await run("ssh-keygen", ["-q", "-s", ca.path, "-I", "interop id", "-n", "root,alice", "-z", "7", ...validity, ...critical, `${user.path}.pub`], UTC);

    const decoded = decodeCertificate(readFileSync(`${user.path}-cert.pub`, "utf8"), { trustedCa: ca.publicKey.blob });
    expect(decoded).toMatchObject({
      type: "ecdsa-sha2-nistp384-cert-v01@openssh.com",
      certType: "user",
      serial: 7n,
      keyId: "interop id",
      principals: ["root", "alice"],
      validAfter: new Date("2024-01-01T00:00:00Z"),
      validBefore: new Date("2030-01-01T00:00:00Z"),
      criticalOptions: { "force-command": "/usr/bin/true", "source-address": "10.0.0.0/8" },
      extensions: { "permit-X11-forwarding": "", "permit-agent-forwarding": "", "permit-port-forwarding": "", "permit-pty": "", "permit-user-rc": "" },
    });
    expect(decoded.publicKey.blob).toEqual(user.publicKey.blob);

    // Ed25519 signatures are deterministic, so the same inputs must give the very same bytes.
    const again = encodeCertificate({
      publicKey: user.publicKey,
      caPrivateKey: readOpenSshEd25519PrivateKey(readFileSync(ca.path, "utf8")),
      caPublicKeyBlob: ca.publicKey.blob,
      certType: decoded.certType,
      keyId: decoded.keyId,
      serial: decoded.serial,
      principals: decoded.principals,
      validAfter: decoded.validAfter,
      validBefore: decoded.validBefore as Date,
      criticalOptions: decoded.criticalOptions,
      extensions: Object.keys(decoded.extensions).reverse(),
      nonce: decoded.nonce,
    });
    expect(Buffer.from(again.blob).toString("base64")).toBe(Buffer.from(decoded.blob).toString("base64"));
  });
});

/** An unencrypted "openssh-key-v1" Ed25519 private key (PROTOCOL.key) as a KeyObject. */
function readOpenSshEd25519PrivateKey(pem: string): KeyObject {
  const body = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s/g, ""), "base64");
  const magic = "openssh-key-v1\0";
  expect(body.subarray(0, magic.length).toString("latin1")).toBe(magic);
  const outer = new SshWireReader(body.subarray(magic.length));
  expect([outer.utf8(), outer.utf8(), outer.string().length, outer.uint32()]).toEqual(["none", "none", 0, 1]);
  outer.string(); // the public key, repeated inside
  const inner = new SshWireReader(outer.string());
  expect(inner.uint32()).toBe(inner.uint32()); // the two check words match when unencrypted
  expect(inner.utf8()).toBe("ssh-ed25519");
  const x = inner.string();
  const seedAndPublic = inner.string();
  return createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(x).toString("base64url"), d: Buffer.from(seedAndPublic.subarray(0, 32)).toString("base64url") },
    format: "jwk",
  });
}

const SSHD_SUITE = "a real sshd and ssh accept and refuse our certificates";

describe.skipIf(!HAS_SSHD)(HAS_SSHD ? SSHD_SUITE : `${SSHD_SUITE} (skipped: ${SSHD_PATH} is not installed)`, () => {
  const user = SSH_TEST_LOGIN;
  const hour = 3600_000;
  let sshd: Sshd;
  let impostor: Sshd;
  let login: Omit<SshLogin, "certificate" | "port" | "knownHosts">;
  let loginKey: SshPublicKey;
  let knownHosts: string;
  let impostorKnownHosts: string;

  /** Issues a user certificate for the login key; each test overrides what it is about. */
  function userCertificate(name: string, overrides: Partial<CertificateOptions> = {}): string {
    return writeCertificate(join(dir, `login-${name}.cert`), {
      publicKey: loginKey,
      caPrivateKey: userCa.privateKey,
      caPublicKeyBlob: userCa.blob,
      certType: "user",
      keyId: `e2e-${name}`,
      serial: 1n,
      principals: ["alice", user],
      validAfter: new Date(Date.now() - 5 * 60_000),
      validBefore: new Date(Date.now() + hour),
      criticalOptions: {},
      extensions: ["permit-pty"],
      ...overrides,
    });
  }

  function hostCertificate(name: string, ca: Ca, hostKey: SshPublicKey): string {
    return writeCertificate(join(dir, `${name}-cert.pub`), {
      publicKey: hostKey,
      caPrivateKey: ca.privateKey,
      caPublicKeyBlob: ca.blob,
      certType: "host",
      keyId: name,
      serial: 2n,
      principals: ["127.0.0.1"],
      validAfter: new Date(Date.now() - 5 * 60_000),
      validBefore: new Date(Date.now() + hour),
      criticalOptions: {},
      extensions: [],
    });
  }

  beforeAll(async () => {
    const [userKey, hostKey] = await Promise.all([sshKeygen("id_login", "ed25519"), sshKeygen("sshd_host_key", "ed25519")]);
    loginKey = userKey.publicKey;
    login = { user, identity: userKey.path, home: dir };
    const trustedUserCaKeys = join(dir, "trusted-user-ca.pub");
    writeFileSync(trustedUserCaKeys, `${userCa.line}\n`);

    const common = { dir, hostKey: hostKey.path, trustedUserCaKeys };
    // One after the other, so a failed start never leaves the other server behind unstopped.
    sshd = await startSshd({ ...common, name: "sshd", hostCertificate: hostCertificate("sshd", hostCa, hostKey.publicKey) });
    // Same host key, but its certificate comes from a CA the client does not trust.
    impostor = await startSshd({ ...common, name: "impostor", hostCertificate: hostCertificate("impostor", rogueCa, hostKey.publicKey) });
    // The client trusts only our host CA, for each server's address.
    knownHosts = join(dir, "known_hosts");
    writeFileSync(knownHosts, `@cert-authority [127.0.0.1]:${sshd.port} ${hostCa.line}\n`);
    impostorKnownHosts = join(dir, "known_hosts_impostor");
    writeFileSync(impostorKnownHosts, `@cert-authority [127.0.0.1]:${impostor.port} ${hostCa.line}\n`);
  });

  afterAll(async () => {
    await Promise.all([sshd?.stop(), impostor?.stop()]);
  });

  // LogLevel=DEBUG1 makes ssh report which host certificate it was shown and what it made of it.
  const ssh = (certificate: string, server = sshd, hosts = knownHosts) =>
    runSsh({ ...login, certificate, port: server.port, knownHosts: hosts }, ["echo", "ok"], ["LogLevel=DEBUG1"]);

  it("logs in with a certificate naming the login user, after checking the host certificate", async () => {
    const result = await ssh(userCertificate("valid"));
    expect(result, result.stderr).toMatchObject({ code: 0, stdout: "ok\n" });
    expect(result.stderr).toMatch(
      new RegExp(`Server host certificate: ssh-ed25519-cert-v01@openssh.com .* ID "sshd" CA ssh-ed25519 ${escape(hostCa.fingerprint)}`),
    );
    expect(result.stderr).toContain(`Host '[127.0.0.1]:${sshd.port}' is known and matches the ED25519-CERT host certificate.`);
    await expect.poll(() => sshd.log()).toContain(`Accepted publickey for ${user} from 127.0.0.1`);
    expect(sshd.log()).toMatch(new RegExp(`ED25519-CERT SHA256:\\S+ ID e2e-valid \\(serial 1\\) CA ED25519 ${escape(userCa.fingerprint)}`));
  });

  it("refuses a certificate whose principals do not include the login user", async () => {
    const result = await ssh(userCertificate("no-principal", { principals: ["alice", "bob"] }));
    expect(result.code).toBe(255);
    expect(result.stderr).toContain("Permission denied (publickey)");
    await expect.poll(() => sshd.log()).toContain("name is not a listed principal");
  });

  it("refuses an expired certificate", async () => {
    const result = await ssh(userCertificate("expired", { validAfter: new Date(Date.now() - 2 * hour), validBefore: new Date(Date.now() - hour) }));
    expect(result.code).toBe(255);
    expect(result.stderr).toContain("Permission denied (publickey)");
    await expect.poll(() => sshd.log()).toContain("Certificate invalid: expired");
  });

  it("refuses a certificate signed by another CA", async () => {
    const result = await ssh(userCertificate("rogue", { caPrivateKey: rogueCa.privateKey, caPublicKeyBlob: rogueCa.blob }));
    expect(result.code).toBe(255);
    expect(result.stderr).toContain("Permission denied (publickey)");
    await expect.poll(() => sshd.log()).toContain(`ID e2e-rogue (serial 1) CA ED25519 ${rogueCa.fingerprint}`);
    expect(sshd.log()).not.toContain('Accepted certificate ID "e2e-rogue"');
  });

  it("refuses a host whose certificate comes from another CA", async () => {
    const result = await ssh(userCertificate("to-impostor"), impostor, impostorKnownHosts);
    expect(result.code).toBe(255);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(
      new RegExp(`Server host certificate: ssh-ed25519-cert-v01@openssh.com .* ID "impostor" CA ssh-ed25519 ${escape(rogueCa.fingerprint)}`),
    );
    expect(result.stderr).toContain("No matching CA found");
    expect(result.stderr).toContain("Host key verification failed.");
    expect(impostor.log()).not.toMatch(/publickey for/);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
