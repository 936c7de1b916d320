import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";

const VERSION = "v1";

/** AES-256-GCM envelope for secrets at rest (signing keys). */
export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

export function createSecretBox(masterKey: string): SecretBox {
  // Any string of 32+ characters becomes a 256-bit key; a hex or base64 key keeps its entropy.
  const key = createHash("sha256").update(`warden-master-key:${masterKey}`).digest();
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return [VERSION, iv.toString("base64url"), body.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
    },
    open(sealed) {
      const [version, iv, body, tag] = sealed.split(".");
      if (version !== VERSION || !iv || !body || !tag) throw new Error("sealed secret: unknown format");
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
    },
  };
}

/**
 * The configured master key (the setting, or a file named by master_key_file, ideally outside
 * the data directory), or one generated once into the data directory with a warning: fine for
 * one machine, but the key then sits next to what it protects.
 */
export function resolveMasterKey(configured: string | undefined, keyFile: string | undefined, dataDir: string, log: Logger): string {
  if (configured) return configured;
  if (keyFile) {
    const key = readFileSync(keyFile, "utf8").trim();
    if (key.length < 32) throw new Error(`master_key_file ${keyFile}: the key must be at least 32 characters`);
    return key;
  }
  const file = join(dataDir, "master.key");
  if (existsSync(file)) {
    log.warn(
      { file },
      "using the master key file in the data directory, next to the data it protects: in production set WARDEN_MASTER_KEY or WARDEN_MASTER_KEY_FILE (outside the data directory)",
    );
    return readFileSync(file, "utf8").trim();
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32).toString("hex");
  writeFileSync(file, key + "\n", { mode: 0o600, flag: "wx" });
  log.warn(
    { file },
    "generated a master key file in the data directory, next to the data it protects: in production set WARDEN_MASTER_KEY or WARDEN_MASTER_KEY_FILE (outside the data directory)",
  );
  return key;
}

/** HMAC-SHA256 under a key derived from the master key: for short codes (OTP, recovery
 *  codes), a plain hash would be reversible by trying every code; this one needs the key. */
export type KeyedHasher = (purpose: string, value: string) => string;

export function createKeyedHasher(masterKey: string): KeyedHasher {
  const key = createHash("sha256").update(`warden-hmac-key:${masterKey}`).digest();
  return (purpose, value) => createHmac("sha256", key).update(`${purpose}\0${value}`).digest("hex");
}
