import { createArgon2Hasher, type PasswordHasher } from "../../../../src/crypto/password-hasher.js";

export interface CountingHasher extends PasswordHasher {
  /** Calls made through this wrapper (each one real argon2id work). */
  readonly counts: { hash: number; verify: number; verifyDummy: number };
}

let argon2: Promise<PasswordHasher> | undefined;

/** The real argon2id hasher (built once per test file: it hashes a dummy password at start). */
function sharedArgon2(): Promise<PasswordHasher> {
  argon2 ??= createArgon2Hasher();
  return argon2;
}

/** The real hasher, counting what it is asked to do. */
export async function countingHasher(): Promise<CountingHasher> {
  const inner = await sharedArgon2();
  const counts = { hash: 0, verify: 0, verifyDummy: 0 };
  return {
    counts,
    hash: (password) => (counts.hash++, inner.hash(password)),
    verify: (hash, password) => (counts.verify++, inner.verify(hash, password)),
    verifyDummy: (password) => (counts.verifyDummy++, inner.verifyDummy(password)),
  };
}
