import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { isEd25519Point } from "./ed25519-point.js";
import { ED25519, ED25519_PUBLIC_KEY_LENGTH, ed25519PublicBlob } from "./ssh-ed25519.js";
import { describingWireErrors, SshKeyError } from "./ssh-key-error.js";
import { authorizedKeysLine, splitKeyLine, sshFingerprint } from "./ssh-key-line.js";
import { SshWireReader, unsignedBytes } from "./ssh-wire.js";

export { SshKeyError } from "./ssh-key-error.js";

export const SSH_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

/** A parsed OpenSSH public key: `blob` is the wire form that fingerprints and certificates use. */
export interface SshPublicKey {
  type: SshKeyType;
  blob: Uint8Array;
  keyObject: KeyObject;
  comment?: string;
}

export const MIN_RSA_BITS = 2048;
/** OpenSSH's own ceiling (SSHBUF_MAX_BIGNUM); also bounds the cost of a hostile modulus. */
export const MAX_RSA_BITS = 16384;

const CERTIFICATE_SUFFIX = "-cert-v01@openssh.com";

/** RFC 5656: the curve name inside the blob, the JWK curve, and the coordinate length. */
const CURVES: Record<string, { name: string; crv: string; size: number }> = {
  "ecdsa-sha2-nistp256": { name: "nistp256", crv: "P-256", size: 32 },
  "ecdsa-sha2-nistp384": { name: "nistp384", crv: "P-384", size: 48 },
  "ecdsa-sha2-nistp521": { name: "nistp521", crv: "P-521", size: 66 },
};

/** Parses `<type> <base64> [comment]`; throws SshKeyError for anything but a sound supported key. */
export function parseSshPublicKey(line: string): SshPublicKey {
  const { type, blob, comment } = splitKeyLine(line);
  checkSupported(type);
  const key = parseSshPublicKeyBlob(blob);
  if (key.type !== type) throw new SshKeyError(`the line says ${type} but the key data is ${key.type}`);
  if (!comment) return key;
  const commented = { ...key, comment };
  parsedKeys.add(commented);
  return commented;
}

/** Keys this module built: their blob and type were checked, so a certificate may copy them as they are. */
const parsedKeys = new WeakSet<SshPublicKey>();

/**
 * Blobs parsed lately and found sound, at most RECENT_KEYS_MAX (the oldest is dropped). The same
 * keys come back again and again (a user's key at every certificate), and checking one costs
 * hundreds of microseconds (an Ed25519 point's square root in BigInt, a JWK import). Blobs over
 * RECENT_KEY_MAX_BYTES (large RSA keys) are parsed every time, so the memory stays bounded.
 */
const recentKeys = new Map<string, { type: SshKeyType; keyObject: KeyObject }>();
const RECENT_KEYS_MAX = 4096;
const RECENT_KEY_MAX_BYTES = 1024;

/** Parses a wire-format public key blob completely: no trailing bytes, no invalid key. */
export function parseSshPublicKeyBlob(blob: Uint8Array): SshPublicKey {
  const id = blob.length <= RECENT_KEY_MAX_BYTES ? Buffer.from(blob.buffer, blob.byteOffset, blob.length).toString("base64") : undefined;
  const known = id === undefined ? undefined : recentKeys.get(id);
  const { type, keyObject } = known ?? parseFields(blob);
  if (id !== undefined && !known) {
    if (recentKeys.size >= RECENT_KEYS_MAX) recentKeys.delete(recentKeys.keys().next().value!);
    recentKeys.set(id, { type, keyObject });
  }
  // A KeyObject cannot be changed, so keys may share one; each caller gets its own blob.
  const key = { type, blob: blob.slice(), keyObject };
  parsedKeys.add(key);
  return key;
}

function parseFields(blob: Uint8Array): { type: SshKeyType; keyObject: KeyObject } {
  return describingWireErrors("public key", () => {
    const reader = new SshWireReader(blob);
    const type = reader.utf8();
    checkSupported(type);
    const keyObject = readPublicKeyFields(type, reader);
    reader.end(`the ${type} key`);
    return { type, keyObject };
  });
}

/** Whether `key` came from parseSshPublicKey(Blob) (a copy with a new comment counts), rather than being assembled by hand. */
export function isParsedKey(key: SshPublicKey): boolean {
  return parsedKeys.has(key);
}

/**
 * Reads the public fields that follow the type name (RFC 4253/5656/8709). Certificates carry the
 * same fields after their nonce, so both parsers share this.
 */
export function readPublicKeyFields(type: SshKeyType, reader: SshWireReader): KeyObject {
  if (type === ED25519) return readEd25519(reader);
  if (type === "ssh-rsa") return readRsa(reader);
  return readEcdsa(type, reader);
}

/** An Ed25519 KeyObject as an OpenSSH public key line, with the fingerprint ssh-keygen prints for it. */
export function ed25519PublicKeyLine(key: KeyObject, comment?: string): { line: string; blob: Uint8Array; fingerprint: string } {
  const blob = ed25519PublicBlob(key);
  return { line: authorizedKeysLine(blob, comment), blob, fingerprint: sshFingerprint(blob) };
}

export function isSshKeyType(type: string): type is SshKeyType {
  return (SSH_KEY_TYPES as readonly string[]).includes(type);
}

function checkSupported(type: string): asserts type is SshKeyType {
  if (isSshKeyType(type)) return;
  if (type.endsWith(CERTIFICATE_SUFFIX)) throw new SshKeyError(`${type} is a certificate, not a public key`);
  throw new SshKeyError(`unsupported key type ${JSON.stringify(type.slice(0, 64))}; expected one of ${SSH_KEY_TYPES.join(", ")}`);
}

function readEd25519(reader: SshWireReader): KeyObject {
  const x = reader.string();
  if (x.length !== ED25519_PUBLIC_KEY_LENGTH) throw new SshKeyError(`an Ed25519 key is ${ED25519_PUBLIC_KEY_LENGTH} bytes, not ${x.length}`);
  if (!isEd25519Point(x)) throw new SshKeyError("the Ed25519 key is not a point on the curve");
  return fromJwk({ kty: "OKP", crv: "Ed25519", x: base64url(x) }, "Ed25519");
}

function readEcdsa(type: SshKeyType, reader: SshWireReader): KeyObject {
  const curve = CURVES[type];
  const name = reader.utf8();
  if (name !== curve.name) throw new SshKeyError(`${type} key names curve ${JSON.stringify(name.slice(0, 64))}`);
  // SEC1 uncompressed point: 0x04 || x || y. OpenSSH never sends the compressed form.
  const q = reader.string();
  if (q.length !== 1 + 2 * curve.size || q[0] !== 0x04) throw new SshKeyError(`${type} key is not an uncompressed ${curve.crv} point`);
  const x = q.subarray(1, 1 + curve.size);
  const y = q.subarray(1 + curve.size);
  return fromJwk({ kty: "EC", crv: curve.crv, x: base64url(x), y: base64url(y) }, `${curve.crv} (point not on the curve)`);
}

function readRsa(reader: SshWireReader): KeyObject {
  // RFC 4253 orders e before n.
  const e = reader.mpint();
  const n = reader.mpint();
  if (n <= 0n || e <= 0n) throw new SshKeyError("RSA modulus and exponent must be positive");
  const bits = n.toString(2).length;
  if (bits < MIN_RSA_BITS) throw new SshKeyError(`RSA key is ${bits} bits; at least ${MIN_RSA_BITS} are required`);
  if (bits > MAX_RSA_BITS) throw new SshKeyError(`RSA key is ${bits} bits; at most ${MAX_RSA_BITS} are supported`);
  if (n % 2n === 0n || e % 2n === 0n || e < 3n || e >= n) throw new SshKeyError("RSA modulus or exponent is not a valid RSA value");
  return fromJwk({ kty: "RSA", n: base64url(unsignedBytes(n)), e: base64url(unsignedBytes(e)) }, "RSA");
}

function fromJwk(jwk: JsonWebKey, what: string): KeyObject {
  try {
    return createPublicKey({ key: jwk, format: "jwk" });
  } catch {
    throw new SshKeyError(`invalid ${what} public key`);
  }
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}
