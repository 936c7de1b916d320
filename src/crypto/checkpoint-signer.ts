import { CompactSign, compactVerify, decodeProtectedHeader } from "jose";
import type { KeyStore } from "./key-store.js";
import type { KeyLookup, SigningKeyArchive } from "./signing-key-archive.js";

/** What a checkpoint vouches for: the chain head (sequence and link hash) at a moment. */
export interface CheckpointClaims {
  /** The checkpoint's number: 1, 2, 3, ... */
  n: number;
  seq: number;
  hash: string;
  /** When it was signed (seconds since the epoch). */
  iat: number;
}

/** The JWS `typ`: a checkpoint is never mistaken for an access token, nor one for it. */
export const CHECKPOINT_TYPE = "warden-audit-checkpoint";

export type CheckpointCheck = { claims: CheckpointClaims; kid: string } | { problem: string };

/**
 * Audit checkpoints as compact JWS under the token signing key (header alg, kid, typ; payload
 * {iss, n, seq, hash, iat}), so anyone can check one with /.well-known/jwks.json.
 */
export class CheckpointSigner {
  constructor(
    private readonly keys: Pick<KeyStore, "signingKey">,
    private readonly archive: Pick<SigningKeyArchive, "load">,
    private readonly issuer: string,
  ) {}

  async sign(claims: CheckpointClaims): Promise<{ jws: string; kid: string }> {
    const key = this.keys.signingKey();
    const payload = new TextEncoder().encode(JSON.stringify({ iss: this.issuer, ...claims }));
    const jws = await new CompactSign(payload).setProtectedHeader({ alg: key.algorithm, kid: key.kid, typ: CHECKPOINT_TYPE }).sign(key.privateKey);
    return { jws, kid: key.kid };
  }

  /** A checker for one verification run: the stored keys are read once. */
  async checker(): Promise<(jws: string) => Promise<CheckpointCheck>> {
    const lookup = await this.archive.load();
    return (jws) => check(jws, lookup);
  }
}

async function check(jws: string, lookup: KeyLookup): Promise<CheckpointCheck> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    return { problem: "not a compact JWS" };
  }
  if (header.typ !== CHECKPOINT_TYPE || typeof header.kid !== "string") return { problem: "not a checkpoint JWS" };
  const key = lookup(header.kid);
  if (!key) return { problem: `signed by key ${header.kid}, which no stored signing key opens` };
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jws, key.publicKey, { algorithms: [key.algorithm] }));
  } catch {
    return { problem: `signature does not verify with key ${header.kid}` };
  }
  const claims = parseJson(new TextDecoder().decode(payload)) as Partial<CheckpointClaims> | null;
  const whole = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!claims || !whole(claims.n) || !whole(claims.seq) || !whole(claims.iat) || typeof claims.hash !== "string")
    return { problem: "payload is not a checkpoint" };
  return { claims: { n: claims.n!, seq: claims.seq!, hash: claims.hash, iat: claims.iat! }, kid: header.kid };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
