import { constants, verify, type KeyObject } from "node:crypto";

/**
 * Proof that the caller holds the SVID's private key: its signature over the challenge payload.
 * Ed25519 (pure), ECDSA with SHA-256 (DER or IEEE P1363 encoding: Go's crypto and WebCrypto
 * differ) and RSA PKCS#1 v1.5 with SHA-256. RSA-PSS keys and other types are not accepted.
 */

const MIN_RSA_BITS = 2048;

/** Why this key cannot answer a challenge; undefined when it can. */
export function svidKeyProblem(key: KeyObject): string | undefined {
  switch (key.asymmetricKeyType) {
    case "ed25519":
    case "ec":
      return undefined;
    case "rsa":
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS ? `RSA keys need at least ${MIN_RSA_BITS} bits` : undefined;
    default:
      return `${key.asymmetricKeyType} keys are not supported (Ed25519, ECDSA or RSA)`;
  }
}

export function svidSignatureValid(key: KeyObject, payload: Buffer, signature: Uint8Array): boolean {
  if (svidKeyProblem(key) !== undefined || signature.length === 0) return false;
  try {
    switch (key.asymmetricKeyType) {
      case "ed25519":
        return verify(null, payload, key, signature);
      case "ec":
        return verify("sha256", payload, { key, dsaEncoding: "der" }, signature) || verify("sha256", payload, { key, dsaEncoding: "ieee-p1363" }, signature);
      case "rsa":
        return verify("sha256", payload, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      default:
        return false;
    }
  } catch {
    // A signature that is not even well-formed for the key verifies nothing.
    return false;
  }
}
