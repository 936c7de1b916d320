import { createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { SshKeyError } from "./ssh-key-error.js";
import { SshWireReader, SshWireWriter } from "./ssh-wire.js";

/** RFC 8709: the key blob and the signature blob both carry this name. */
export const ED25519 = "ssh-ed25519";
export const ED25519_PUBLIC_KEY_LENGTH = 32;
const SIGNATURE_LENGTH = 64;

/** The OpenSSH public key blob (string "ssh-ed25519", string key) of an Ed25519 key, public or private. */
export function ed25519PublicBlob(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType !== "ed25519") throw new SshKeyError(`expected an Ed25519 key, got ${key.asymmetricKeyType ?? key.type}`);
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  const x = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  return new SshWireWriter().utf8(ED25519).string(x).bytes();
}

/** RFC 8709 section 6: string "ssh-ed25519", string signature (64 bytes) over `data`. */
export function ed25519SignatureBlob(privateKey: KeyObject, data: Uint8Array): Uint8Array {
  return new SshWireWriter()
    .utf8(ED25519)
    .string(sign(null, data, privateKey))
    .bytes();
}

/** Whether `signatureBlob` is an Ed25519 signature by `publicKey` over `data`; malformed blobs throw. */
export function verifyEd25519SignatureBlob(publicKey: KeyObject, data: Uint8Array, signatureBlob: Uint8Array): boolean {
  const reader = new SshWireReader(signatureBlob);
  const algorithm = reader.utf8();
  if (algorithm !== ED25519) throw new SshKeyError(`signature algorithm ${JSON.stringify(algorithm)} is not ${ED25519}`);
  const signature = reader.string();
  reader.end("the signature");
  if (signature.length !== SIGNATURE_LENGTH) throw new SshKeyError(`an Ed25519 signature is ${SIGNATURE_LENGTH} bytes, not ${signature.length}`);
  return verify(null, data, publicKey, signature);
}
