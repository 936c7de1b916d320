import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AUTHENTICATE,
  BACKCHANNEL_PASSWORD,
  BACKCHANNEL_USER,
  registerMailUser,
  startBackchannelWarden,
  type BackchannelWarden,
  type MailUser,
} from "../helpers/backchannel.js";
import { expectCleanLogs } from "../helpers/e2e-clients.js";
import { describeWithTools, rpcLogLines } from "../helpers/native-clients.js";
import { eventually } from "../helpers/probes.js";
import { makeTempDir, REPO_ROOT, SLOW_TEST } from "../helpers/server-process.js";
import { STRONG_PASSWORD } from "../helpers/test-app.js";

/**
 * A real mail stack: Debian's Dovecot serving IMAP, its passdb a checkpassword script that asks
 * Warden's backchannel (Connect JSON with curl, Basic caller) whether a user's password is right.
 * The test logs in over a socket as a mail client would. Dovecot runs from a private directory
 * (its own config, base_dir, log) on a free loopback port; it needs root to switch to the mail
 * user. The script and the config are tests/e2e/fixtures/dovecot/.
 */

const FIXTURES = resolve(REPO_ROOT, "tests/e2e/fixtures/dovecot");
const TOOLS = ["/usr/sbin/dovecot", "/usr/lib/dovecot/imap", "/usr/lib/dovecot/checkpassword-reply", "/usr/bin/curl", "/usr/bin/jq"];
const PACKAGES = "dovecot-core dovecot-imapd curl jq";
const isRoot = process.getuid?.() === 0;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** One IMAP connection: send a tagged command, read up to its tagged answer. */
class ImapClient {
  private buffer = "";
  private waiting?: () => void;
  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.buffer += d;
      this.waiting?.();
    });
  }

  static async open(port: number): Promise<{ client: ImapClient; greeting: string }> {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((ok, fail) => socket.once("connect", ok).once("error", fail));
    const client = new ImapClient(socket);
    return { client, greeting: await client.readUntil((l) => l.startsWith("* ")) };
  }

  /** Lines up to and including the first one that `done` accepts; that line is returned. */
  private async readUntil(done: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let nl: number;
      while ((nl = this.buffer.indexOf("\r\n")) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 2);
        if (done(line)) return line;
      }
      if (Date.now() > deadline) throw new Error(`no IMAP answer within ${timeoutMs} ms; have: ${this.buffer}`);
      await new Promise<void>((r) => {
        this.waiting = r;
        setTimeout(r, 100);
      });
    }
  }

  async command(tag: string, command: string): Promise<string> {
    this.socket.write(`${tag} ${command}\r\n`);
    return this.readUntil((l) => l.startsWith(`${tag} `));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** uid and gid of a system user (Debian's dovecot-core creates "dovecot" for the auth service). */
function systemUser(name: string): { uid: number; gid: number } {
  const entry = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .map((l) => l.split(":"))
    .find((f) => f[0] === name);
  if (!entry) throw new Error(`no system user ${name}: is dovecot-core installed?`);
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

const quoted = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** A fresh connection that tries LOGIN (or AUTHENTICATE PLAIN), then logs out; the tagged answer to the login. */
async function imapLogin(port: number, user: string, password: string, mechanism: "LOGIN" | "PLAIN" = "LOGIN"): Promise<string> {
  const { client, greeting } = await ImapClient.open(port);
  try {
    expect(greeting).toMatch(/^\* OK .*ready/);
    const answer =
      mechanism === "LOGIN"
        ? await client.command("a1", `LOGIN ${quoted(user)} ${quoted(password)}`)
        : await client.command("a1", `AUTHENTICATE PLAIN ${Buffer.from(`\0${user}\0${password}`).toString("base64")}`);
    if (answer.startsWith("a1 OK")) expect(await client.command("a2", "LOGOUT")).toMatch(/^a2 OK/);
    return answer;
  } finally {
    client.close();
  }
}

describeWithTools("Dovecot IMAP with a checkpassword passdb on Warden's backchannel", TOOLS, PACKAGES, () => {
  describe.skipIf(!isRoot)(isRoot ? "as root" : "[skipped: Dovecot switches to the mail user, which needs root]", () => {
    let w: BackchannelWarden;
    let dir: string;
    let port: number;
    let dovecot: ChildProcess | undefined;
    let dovecotExited: Promise<void> | undefined;
    let alice: MailUser;
    const log = () => (existsSync(join(dir, "dovecot.log")) ? readFileSync(join(dir, "dovecot.log"), "utf8") : "");

    beforeAll(async () => {
      dir = makeTempDir("warden-dovecot-");
      [w, port] = await Promise.all([startBackchannelWarden(), freePort()]);
      alice = await registerMailUser(w.server.baseUrl, "imap-alice");

      for (const d of ["run", "state"]) mkdirSync(join(dir, d));
      // The mail processes run as nobody; the test directory is root's.
      mkdirSync(join(dir, "mail"), { mode: 0o777 });
      chmodSync(join(dir, "mail"), 0o777);
      chmodSync(dir, 0o755);
      copyFileSync(join(FIXTURES, "checkpassword.sh"), join(dir, "checkpassword.sh"));
      chmodSync(join(dir, "checkpassword.sh"), 0o755);
      // The Basic credential is for Dovecot's auth service alone, which runs as its internal user.
      const conf = join(dir, "curl.conf");
      writeFileSync(conf, `url = "${w.backchannel}/${AUTHENTICATE}"\nuser = "${BACKCHANNEL_USER}:${BACKCHANNEL_PASSWORD}"\n`, { mode: 0o600 });
      const internal = systemUser("dovecot");
      chownSync(conf, internal.uid, internal.gid);
      const config = readFileSync(join(FIXTURES, "dovecot.conf"), "utf8").replaceAll("@DIR@", dir).replaceAll("@PORT@", String(port));
      writeFileSync(join(dir, "dovecot.conf"), config);

      // -F: in the foreground, a child of the test, stopped by its pid.
      const child = spawn("/usr/sbin/dovecot", ["-F", "-c", join(dir, "dovecot.conf")], { stdio: ["ignore", "pipe", "pipe"] });
      dovecot = child;
      let output = "";
      child.stdout!.on("data", (d) => (output += d));
      child.stderr!.on("data", (d) => (output += d));
      dovecotExited = new Promise((r) => child.once("exit", () => r()));
      try {
        await eventually(
          async () => {
            if (child.exitCode !== null) throw new Error("exited");
            const { client } = await ImapClient.open(port);
            client.close();
            return true;
          },
          20_000,
          "Dovecot's IMAP greeting",
        );
      } catch (err) {
        throw new Error(`Dovecot did not start (exit ${child.exitCode}):\n${output}\n${log()}`, { cause: err });
      }
    }, SLOW_TEST.timeout);

    afterAll(async () => {
      if (dovecot && dovecot.exitCode === null) {
        dovecot.kill("SIGTERM");
        const timer = setTimeout(() => dovecot?.kill("SIGKILL"), 5000);
        await dovecotExited;
        clearTimeout(timer);
      }
      await w?.dispose();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("LOGIN with the right password: OK, and Dovecot logs the user in under the account's name", SLOW_TEST, async () => {
      expect(await imapLogin(port, alice.email, alice.password)).toMatch(/^a1 OK .*Logged in/);
      expect(log()).toContain(`Login: user=<${alice.email}>, method=PLAIN, rip=127.0.0.1`);
    });

    it("LOGIN with a wrong password, or for an unknown user: NO [AUTHENTICATIONFAILED]", SLOW_TEST, async () => {
      expect(await imapLogin(port, alice.email, "not-alices-password-imap")).toBe("a1 NO [AUTHENTICATIONFAILED] Authentication failed.");
      expect(await imapLogin(port, "nobody-here@example.test", "some-password-long-enough")).toBe("a1 NO [AUTHENTICATIONFAILED] Authentication failed.");
      expect(log()).toMatch(/checkpassword\([^)]*\): Login failed \(status=1\)/);
    });

    it("AUTHENTICATE PLAIN (SASL-IR) goes the same way", SLOW_TEST, async () => {
      expect(await imapLogin(port, alice.email, alice.password, "PLAIN")).toMatch(/^a1 OK .*Logged in/);
      expect(await imapLogin(port, alice.email, "not-alices-password-sasl", "PLAIN")).toBe("a1 NO [AUTHENTICATIONFAILED] Authentication failed.");
    });

    it("each IMAP login was one backchannel Authenticate over Connect JSON, with no password in Warden's output", async () => {
      // The last line may still be on its way to the server's stdout.
      await eventually(async () => rpcLogLines(w.server, AUTHENTICATE).length >= 5, 5000, "five Authenticate log lines");
      // Two logins and three refusals: every one a successful backchannel call.
      expect(rpcLogLines(w.server, AUTHENTICATE).map((l) => l.code)).toEqual(Array(5).fill("ok"));
      expect(log()).not.toMatch(/temporary failure|backchannel unreachable/i);
      expectCleanLogs(w.server, [STRONG_PASSWORD, BACKCHANNEL_PASSWORD, "not-alices-password-imap"]);
    });
  });
});
