import { execFile } from "node:child_process";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { AuthService } from "../../../gen/warden/auth/v1/auth_service_pb.js";
import { durationArg, oneOf, stringValue } from "../args.js";
import type { CommandSpec } from "../command.js";
import { CliError } from "../errors.js";
import { timeText } from "../output.js";
import { configDir } from "../profile.js";
import { isoOf } from "../session.js";

const run = promisify(execFile);

const KEY_TYPES = ["ed25519", "ecdsa"] as const;
type KeyType = (typeof KEY_TYPES)[number];
const KEYGEN_TYPE_ARGS: Record<KeyType, string[]> = { ed25519: ["-t", "ed25519"], ecdsa: ["-t", "ecdsa", "-b", "256"] };

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * The key pair at `keyFile` (and `.pub`): kept when it exists, so that a new certificate renews
 * the old key's; made by ssh-keygen otherwise, because node:crypto cannot write the OpenSSH
 * private key format that ssh reads.
 */
async function ensureKeyPair(keyFile: string, type: KeyType, comment: string): Promise<boolean> {
  try {
    if (await exists(keyFile)) {
      if (!(await exists(`${keyFile}.pub`))) {
        const { stdout } = await run("ssh-keygen", ["-y", "-f", keyFile]);
        await writeFile(`${keyFile}.pub`, stdout, { mode: 0o644 });
      }
      return false;
    }
    await run("ssh-keygen", ["-q", ...KEYGEN_TYPE_ARGS[type], "-N", "", "-C", comment, "-f", keyFile]);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new CliError("ssh-keygen was not found: it makes the key (OpenSSH's private key format); install the OpenSSH client tools");
    throw new CliError(`ssh-keygen failed: ${((err as { stderr?: string }).stderr || (err as Error).message).trim()}`);
  }
}

/** Single quotes for a shell when a word needs them. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const issue: CommandSpec = {
  words: ["certs", "issue"],
  summary: "get an SSH certificate for your key (made when missing); writes it and known_hosts lines to a directory",
  options: {
    dir: { type: "string", value: "DIR", help: "where the key, certificate and known_hosts are (default: <config dir>/ssh)" },
    ttl: { type: "string", value: "DURATION", help: "how long the certificate is valid, e.g. 8h (your roles cap it)" },
    "key-type": { type: "string", value: "ed25519|ecdsa", help: "the kind of key to make when there is none (default ed25519)" },
  },
  async run(ctx) {
    const keyType = oneOf("key-type", stringValue(ctx, "key-type") ?? "ed25519", KEY_TYPES);
    const ttlText = stringValue(ctx, "ttl");
    const ttl = ttlText ? durationArg("ttl", ttlText) : undefined;
    const session = await ctx.signedIn();

    const dir = resolve(stringValue(ctx, "dir") ?? join(configDir(ctx.env), "ssh"));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const keyFile = join(dir, `id_${keyType}`);
    const created = await ensureKeyPair(keyFile, keyType, `warden ${session.profile.email ?? ""}`.trim());
    const publicKey = (await readFile(`${keyFile}.pub`, "utf8")).trim();

    const r = await session.client(AuthService).issueUserCerts({ publicKey, ttl });
    const certificateFile = `${keyFile}-cert.pub`;
    const knownHostsFile = join(dir, "known_hosts");
    await writeFile(certificateFile, `${r.sshCertificate}\n`, { mode: 0o644 });
    await writeFile(knownHostsFile, r.trustedHostCas.map((line) => `${line}\n`).join(""), { mode: 0o644 });

    const login = r.principals[0] ?? "LOGIN";
    const sshCommand = [
      "ssh",
      "-i",
      shellWord(keyFile),
      "-o",
      shellWord(`CertificateFile=${certificateFile}`),
      "-o",
      shellWord(`UserKnownHostsFile=${knownHostsFile}`),
      `${shellWord(login)}@HOST`,
    ].join(" ");

    if (ctx.out.json) {
      ctx.out.data({
        privateKeyFile: keyFile,
        publicKeyFile: `${keyFile}.pub`,
        certificateFile,
        knownHostsFile,
        keyCreated: created,
        principals: r.principals,
        validAfter: isoOf(r.validAfter),
        validBefore: isoOf(r.validBefore),
        sshCommand,
      });
      return;
    }
    ctx.out.fields([
      ["Key", `${keyFile}${created ? " (new)" : ""}`],
      ["Certificate", certificateFile],
      ["Known hosts", knownHostsFile],
      ["Logins", r.principals.join(", ")],
      ["Valid", `${timeText(r.validAfter)} to ${timeText(r.validBefore)}`],
    ]);
    ctx.out.line();
    ctx.out.line("Connect with:");
    ctx.out.line(`  ${sshCommand}`);
  },
};

export const certCommands = [issue];
