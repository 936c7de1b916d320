import { availableParallelism } from "node:os";
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

/**
 * At most one hash per core at a time. More would not hash faster, but would take CPU from the
 * event loop, which then holds database locks and answers everything else more slowly.
 */
function limiter(max: number): <T>(job: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (job) => {
    if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await job();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/** argon2id through a native binding; the work runs on libuv's thread pool, off the event loop. */
export async function createArgon2Hasher(maxConcurrent = availableParallelism()): Promise<PasswordHasher> {
  const run = limiter(Math.max(1, maxConcurrent));
  const dummyHash = await hash("warden-dummy-password-for-timing", ARGON2_PARAMS);
  return {
    hash: (password) => run(() => hash(password, ARGON2_PARAMS)),
    async verify(stored, password) {
      try {
        return await run(() => verify(stored, password));
      } catch {
        return false;
      }
    },
    async verifyDummy(password) {
      await run(() => verify(dummyHash, password)).catch(() => false);
    },
  };
}
