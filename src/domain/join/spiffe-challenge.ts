/**
 * The text an SVID's key signs. It starts with a fixed context line (so the signature means
 * nothing to any other protocol the key is used for) and names the cluster, the SVID and the
 * SSH key to certify: an answer is good only for the SSH key asked about in the first call.
 * The random nonce and the expiry follow. Stored as issued; the answer is checked against it.
 */

export const SPIFFE_CHALLENGE_PURPOSE = "spiffe";
export const SPIFFE_CHALLENGE_TTL_SECONDS = 300;

const CONTEXT = "warden AuthenticateSPIFFE challenge v1";

export interface ChallengeBinding {
  clusterName: string;
  /** SHA-256 (hex) of the SVID leaf's DER. */
  svidDigest: string;
  /** SHA256:... of the SSH public key. */
  sshKeyFingerprint: string;
}

/** The payload's first lines; none of the values can hold a newline. */
export function challengeBinding(b: ChallengeBinding): string {
  return `${CONTEXT}\ncluster: ${b.clusterName}\nsvid-sha256: ${b.svidDigest}\nssh-key: ${b.sshKeyFingerprint}\n`;
}

export function challengePayload(b: ChallengeBinding, nonce: string, expiresAt: Date): string {
  return `${challengeBinding(b)}nonce: ${nonce}\nexpires: ${expiresAt.toISOString()}\n`;
}

/** Whether a stored payload was issued for this binding. */
export function payloadBinds(payload: string, b: ChallengeBinding): boolean {
  return payload.startsWith(challengeBinding(b));
}
