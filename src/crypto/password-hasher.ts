import { hash, verify } from "@node-rs/argon2";

/** Algorithm.Argon2id of @node-rs/argon2 (a const enum, so spelled out here). */
const ARGON2ID = 2;

/** OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. */
export const ARGON2_PARAMS = { algorithm: ARGON2ID, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** Spends the time of one verify; used when no user matches, so timing tells nothing. */
  verifyDummy(password: string): Promise<void>;
}

/** argon2id through a native binding; the work runs on libuv's thread pool, off the event loop. */
export async function createArgon2Hasher(): Promise<PasswordHasher> {
  const dummyHash = await hash("warden-dummy-password-for-timing", ARGON2_PARAMS);
  return {
    hash: (password) => hash(password, ARGON2_PARAMS),
    async verify(stored, password) {
      try {
        return await verify(stored, password);
      } catch {
        return false;
      }
    },
    async verifyDummy(password) {
      await verify(dummyHash, password).catch(() => false);
    },
  };
}
