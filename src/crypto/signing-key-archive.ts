import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import type { SigningKeyStore } from "../domain/store/signing-key-store.js";
import type { SigningAlgorithm, SigningKey } from "./key-store.js";
import type { SecretBox } from "./master-key.js";

export interface ArchivedKey {
  algorithm: SigningAlgorithm;
  publicKey: KeyObject;
}

/** A verification key by kid, or undefined when no stored key has that kid. */
export type KeyLookup = (kid: string) => ArchivedKey | undefined;

/**
 * Every signing key ever stored, retired or not, for signatures meant to outlive the tokens a
 * key signed (audit checkpoints); KeyStore stops verifying a key once its tokens have expired.
 * The public half is derived from the sealed private half, not read from `public_jwk`: with
 * database access alone one can replace a public key, never seal a private one.
 */
export class SigningKeyArchive {
  constructor(
    private readonly store: { signingKeys: Pick<SigningKeyStore, "all"> },
    private readonly box: SecretBox,
    /** The key signing now: with HS256 it comes from configuration, not from the table. */
    private readonly current: () => SigningKey,
  ) {}

  /** The keys as stored now: read once per verification run. */
  async load(): Promise<KeyLookup> {
    const keys = new Map<string, ArchivedKey>();
    for (const row of await this.store.signingKeys.all()) {
      try {
        keys.set(row.kid, {
          algorithm: row.algorithm as SigningAlgorithm,
          publicKey: createPublicKey(createPrivateKey(this.box.open(row.privateKeyEncrypted))),
        });
      } catch {
        // A private half that does not open under the master key vouches for nothing.
      }
    }
    const current = this.current();
    keys.set(current.kid, { algorithm: current.algorithm, publicKey: current.publicKey });
    return (kid) => keys.get(kid);
  }
}
