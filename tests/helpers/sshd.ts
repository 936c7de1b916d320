import { execFile, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { encodeCertificate } from "../../src/crypto/ssh/ssh-certificate.js";
import { ed25519PublicKeyLine, parseSshPublicKey } from "../../src/crypto/ssh/ssh-public-key.js";

/** A throwaway OpenSSH server and client for certificate tests: no PAM, no passwords, nothing outside a temp dir. */

export const SSHD_PATH = "/usr/sbin/sshd";
export const HAS_SSHD = existsSync(SSHD_PATH);

/** The account .ci/run makes for these tests: its shell is /bin/sh, which runs no login scripts. */
const TEST_ACCOUNT = "warden-ssh";

/**
 * The login the ssh tests sign in as. sshd runs each command through the login's shell, and a
 * root whose ~/.bashrc starts pyenv spends seconds per command on it: as root the tests use the
 * plain account when it exists; otherwise (sshd not run as root) only one's own login can work.
 */
export const SSH_TEST_LOGIN =
  process.getuid?.() === 0 &&
  readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .some((line) => line.startsWith(`${TEST_ACCOUNT}:`))
    ? TEST_ACCOUNT
    : userInfo().username;

const run = promisify(execFile);
const START_TIMEOUT_MS = 10_000;

export interface SshdOptions {
  /** Where the config file goes. */
  dir: string;
  name: string;
  hostKey: string;
  hostCertificate: string;
  trustedUserCaKeys: string;
}

export interface Sshd {
  port: number;
  /** Everything sshd has logged so far (it runs with -e): refusal reasons show up here. */
  log(): string;
  stop(): Promise<void>;
}

export async function startSshd(opts: SshdOptions): Promise<Sshd> {
  const port = await freePort();
  const config = join(opts.dir, `${opts.name}.sshd_config`);
  writeFileSync(
    config,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${opts.hostKey}`,
      `HostCertificate ${opts.hostCertificate}`,
      `TrustedUserCAKeys ${opts.trustedUserCaKeys}`,
      // No principals file: a user certificate must list the login name itself.
      "AuthorizedPrincipalsFile none",
      "AuthorizedKeysFile none",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      "StrictModes no",
      `PidFile ${join(opts.dir, `${opts.name}.pid`)}`,
      "UseDNS no",
      "PrintMotd no",
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );
  mkdirSync("/run/sshd", { recursive: true }); // the privilege separation directory sshd insists on

  const child = spawn(SSHD_PATH, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const listening = `Server listening on 127.0.0.1 port ${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!log.includes(listening)) {
    const stillRunning = await Promise.race([exited.then(() => false), sleep(20).then(() => true)]);
    if (!stillRunning) throw new Error(`sshd exited with ${child.exitCode} before listening:\n${log}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`sshd did not start within ${START_TIMEOUT_MS} ms:\n${log}`);
    }
  }

  return {
    port,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

export interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SshLogin {
  port: number;
  user: string;
  identity: string;
  certificate: string;
  knownHosts: string;
  /** Stands in for the user's home: nothing is read from or written to the real ~/.ssh. */
  home: string;
}

/** `ssh ... user@127.0.0.1 <command>` with only the given key and certificate, never prompting; `options` are extra `-o` values. */
export async function runSsh(login: SshLogin, command: string[], options: string[] = []): Promise<SshResult> {
  const args = [
    "-F",
    "/dev/null",
    "-i",
    login.identity,
    "-o",
    `CertificateFile=${login.certificate}`,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "IdentityAgent=none",
    "-o",
    `UserKnownHostsFile=${login.knownHosts}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
    ...options.flatMap((option) => ["-o", option]),
    "-p",
    String(login.port),
    `${login.user}@127.0.0.1`,
    ...command,
  ];
  try {
    const { stdout, stderr } = await run("ssh", args, { env: { ...process.env, HOME: login.home, SSH_AUTH_SOCK: "" }, timeout: 15_000 });
    return { code: 0, stdout, stderr };
  } catch (e: any) {
    if (typeof e?.code !== "number") throw e;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * An sshd whose host key is certified by a CA of the test's own (Warden's host certificates come
 * with node join), trusting the user CA keys in `trustedUserCaKeys` (a file sshd reads at every
 * authentication, so rewriting it changes what the running sshd trusts); and the known_hosts
 * file that trusts that host CA.
 */
export async function sshdWithTestHostCa(dir: string, name: string, trustedUserCaKeys: string): Promise<{ sshd: Sshd; knownHosts: string }> {
  const hostCa = generateKeyPairSync("ed25519");
  const hostCaLine = ed25519PublicKeyLine(hostCa.publicKey, `${name}-host-ca`);
  const hostKey = join(dir, `${name}-host-key`);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}-host`, "-f", hostKey]);
  const { line } = encodeCertificate({
    publicKey: parseSshPublicKey(readFileSync(`${hostKey}.pub`, "utf8")),
    caPrivateKey: hostCa.privateKey,
    caPublicKeyBlob: hostCaLine.blob,
    certType: "host",
    keyId: `${name}-host`,
    serial: 1n,
    principals: ["127.0.0.1"],
    validAfter: new Date(Date.now() - 60_000),
    validBefore: new Date(Date.now() + 3600_000),
    criticalOptions: {},
    extensions: [],
  });
  writeFileSync(`${hostKey}-cert.pub`, `${line}\n`);
  const sshd = await startSshd({ dir, name, hostKey, hostCertificate: `${hostKey}-cert.pub`, trustedUserCaKeys });
  const knownHosts = join(dir, `${name}-known_hosts`);
  writeFileSync(knownHosts, `@cert-authority [127.0.0.1]:${sshd.port} ${hostCaLine.line}\n`);
  return { sshd, knownHosts };
}
