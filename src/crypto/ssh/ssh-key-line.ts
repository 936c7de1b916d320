import { createHash } from "node:crypto";
import { SshKeyError } from "./ssh-key-error.js";
import { SshWireReader } from "./ssh-wire.js";

/** The text form shared by public keys and certificates: `<type> <base64 blob> [comment]`. */
export interface SshKeyLine {
  type: string;
  blob: Uint8Array;
  comment?: string;
}

/** Generous for a 16384-bit RSA key or a certificate with many principals; bounds the work on junk. */
const MAX_LINE_LENGTH = 64 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function splitKeyLine(line: string): SshKeyLine {
  if (line.length > MAX_LINE_LENGTH) throw new SshKeyError(`key line is longer than ${MAX_LINE_LENGTH} characters`);
  const text = line.trim();
  if (/[\r\n]/.test(text)) throw new SshKeyError("expected one key line, found several lines");
  const match = /^(\S+)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(text);
  if (!match) throw new SshKeyError("expected `<type> <base64> [comment]`");
  const [, type, base64, comment] = match;
  return { type, blob: decodeBase64(base64), ...(comment ? { comment } : {}) };
}

/** `<type> <base64> [comment]`, the type read from the blob itself so the two cannot disagree. */
export function authorizedKeysLine(blob: Uint8Array, comment?: string): string {
  if (comment && /[\r\n]/.test(comment)) throw new SshKeyError("a key comment cannot span lines");
  const type = blobType(blob);
  const base64 = Buffer.from(blob).toString("base64");
  return comment ? `${type} ${base64} ${comment}` : `${type} ${base64}`;
}

/** The fingerprint `ssh-keygen -l` prints: SHA-256 of the blob, base64 without padding. */
export function sshFingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The blob type without decoding anything else: tells a key from a certificate before parsing. */
export function blobType(blob: Uint8Array): string {
  return new SshWireReader(blob).utf8();
}

function decodeBase64(text: string): Uint8Array {
  // Buffer.from skips characters it does not know; a strict pattern makes junk an error instead.
  if (text.length === 0 || !BASE64.test(text)) throw new SshKeyError("key data is not valid base64");
  const bytes = Buffer.from(text, "base64");
  if (bytes.toString("base64") !== text) throw new SshKeyError("key data is not canonical base64");
  return Uint8Array.from(bytes);
}
