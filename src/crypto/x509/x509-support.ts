// tsyringe (inside @peculiar/x509) throws at load time unless the Reflect metadata API exists first.
import "reflect-metadata";
import { createPublicKey, randomBytes, webcrypto, type KeyObject } from "node:crypto";
import * as x509 from "@peculiar/x509";

/**
 * The one place that loads @peculiar/x509: the rest of src/crypto/x509 reaches it through this
 * module, so the Reflect polyfill and the crypto provider are always in place before first use.
 */

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };

export const P256_SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;

/**
 * 16 random bytes with the top bits fixed to 01: positive without a 0x00 pad and never shortened
 * by leading zeros, so every serial is exactly 16 bytes with 126 bits of entropy.
 */
export function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x3f) | 0x40;
  return bytes.toString("hex");
}

/** SubjectPublicKeyInfo DER of a public key, or of the public half of a private key. */
export function spkiDer(key: KeyObject): Uint8Array<ArrayBuffer> {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  // Copied into a plain Uint8Array<ArrayBuffer>, the type TS 5.9 wants for a BufferSource.
  return new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
}

/** Node 20 has no KeyObject.toCryptoKey, so the key crosses over as PKCS#8 DER. */
export async function p256SigningKey(privateKey: KeyObject): Promise<CryptoKey> {
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  return (await webcrypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"])) as CryptoKey;
}

/** X.509 validity has whole seconds; comparing at that precision avoids refusing a date that encodes equal. */
export function wholeSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000) * 1000;
}
