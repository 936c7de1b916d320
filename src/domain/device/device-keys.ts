import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { sha256Hex } from "../../crypto/random.js";
import { invalidArgument } from "../errors.js";

export type DeviceKeyType = "ed25519" | "p256";

/** A device key as stored: its kind, the canonical PEM the server re-exported, and its fingerprint. */
export interface DevicePublicKey {
  keyType: DeviceKeyType;
  /** PEM SubjectPublicKeyInfo as node:crypto exports it (one canonical form per key). */
  pem: string;
  /** SHA-256 (hex) of the DER SubjectPublicKeyInfo. */
  fingerprint: string;
  key: KeyObject;
}

// One PEM block of type PUBLIC KEY and nothing else but whitespace. createPublicKey would
// otherwise derive a public key from a private key PEM or take one out of a certificate.
const SPKI_PEM = /^\s*-----BEGIN PUBLIC KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END PUBLIC KEY-----\s*$/;

const invalid = (why: string) => invalidArgument("public_key", why, "PUBLIC_KEY_INVALID");

/**
 * Parses a PEM SubjectPublicKeyInfo; only Ed25519 and ECDSA P-256 keys are accepted (the two
 * that platform key stores and `openssl` make without fuss, and that node:crypto verifies).
 */
export function parseDevicePublicKey(pem: string): DevicePublicKey {
  if (!SPKI_PEM.test(pem)) throw invalid("must be one PEM block -----BEGIN PUBLIC KEY----- (SubjectPublicKeyInfo)");
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: "pem" });
  } catch {
    throw invalid("is not a readable SubjectPublicKeyInfo");
  }
  const keyType = keyTypeOf(key);
  if (!keyType) throw invalid("must be an Ed25519 or P-256 (prime256v1) key");
  // A P-256 point may come compressed; through JWK it is exported uncompressed, so one key has
  // one fingerprint (and cannot be registered twice in an organization under two encodings).
  if (keyType === "p256") key = createPublicKey({ key: key.export({ format: "jwk" }), format: "jwk" });
  const der = key.export({ type: "spki", format: "der" });
  return { keyType, pem: key.export({ type: "spki", format: "pem" }).toString(), fingerprint: sha256Hex(der), key };
}

function keyTypeOf(key: KeyObject): DeviceKeyType | undefined {
  if (key.type !== "public") return undefined;
  if (key.asymmetricKeyType === "ed25519") return "ed25519";
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "p256";
  return undefined;
}

/**
 * Whether `signature` signs the payload's UTF-8 bytes under the key: Ed25519 over the raw bytes,
 * P-256 ECDSA with SHA-256 as DER (what `openssl dgst -sign` writes) or IEEE P1363 r||s (what
 * WebCrypto and most hardware key stores return). Never throws.
 */
export function verifyDeviceSignature(key: Pick<DevicePublicKey, "keyType" | "key">, payload: string, signature: Uint8Array): boolean {
  const data = Buffer.from(payload, "utf8");
  try {
    if (key.keyType === "ed25519") return signature.length === 64 && verify(null, data, key.key, signature);
    // A DER signature may be 64 bytes long too (short r and s), so that length tries both forms.
    if (signature.length === 64 && verify("sha256", data, { key: key.key, dsaEncoding: "ieee-p1363" }, signature)) return true;
    return verify("sha256", data, { key: key.key, dsaEncoding: "der" }, signature);
  } catch {
    return false;
  }
}

/** The stored key of a device, parsed again for verification. */
export function storedDeviceKey(row: { keyType: string; publicKey: string }): Pick<DevicePublicKey, "keyType" | "key"> | undefined {
  if (row.keyType !== "ed25519" && row.keyType !== "p256") return undefined;
  try {
    return { keyType: row.keyType, key: createPublicKey({ key: row.publicKey, format: "pem" }) };
  } catch {
    return undefined;
  }
}
