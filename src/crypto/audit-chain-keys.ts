import { createHash, createHmac } from "node:crypto";
import type { LinkKeyPads } from "../domain/audit/audit-event.js";

/** HMAC-SHA256 works on 64-byte blocks: a shorter key is padded with zeros to one block. */
const BLOCK_BYTES = 64;

/**
 * The audit chain's keys: version N is derived from the master key with the label
 * `audit-chain:v<N>`, and its key id is `v<N>`. New links use the configured version; a link
 * is verified with the key its row names, so raising the version rotates the key without
 * touching older rows.
 */
export class AuditChainKeys {
  private readonly derived = new Map<number, Buffer>();
  readonly current: LinkKeyPads;

  constructor(
    private readonly masterKey: string,
    currentVersion: number,
  ) {
    const key = this.keyOf(currentVersion);
    const pad = (byte: number) => Buffer.from(blockOf(key).map((b) => b ^ byte)).toString("hex");
    this.current = { keyId: `v${currentVersion}`, innerPad: pad(0x36), outerPad: pad(0x5c) };
  }

  /** The keyed link (hex) of a message under the key `keyId` names; undefined when no key has that id. */
  link(keyId: string, message: string): string | undefined {
    const version = /^v([1-9]\d{0,5})$/.exec(keyId);
    if (!version) return undefined;
    return createHmac("sha256", this.keyOf(Number(version[1])))
      .update(message, "utf8")
      .digest("hex");
  }

  private keyOf(version: number): Buffer {
    let key = this.derived.get(version);
    if (!key) {
      key = createHash("sha256").update(`warden-audit-chain:v${version}:${this.masterKey}`).digest();
      this.derived.set(version, key);
    }
    return key;
  }
}

function blockOf(key: Buffer): Buffer {
  const block = Buffer.alloc(BLOCK_BYTES);
  key.copy(block);
  return block;
}
