import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** 256 bits from the OS CSPRNG, base64url. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

export function sha256Hex(value: string | Buffer): string {
  return createHash("sha256").update(value).digest("hex");
}

/** Compares two strings without leaking where they differ; lengths are hashed away first. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Refilled from the CSPRNG 4 KiB at a time. */
const PUBLIC_POOL_SIZE = 4096;
let publicPool = Buffer.alloc(0);
let publicPoolOffset = 0;

/**
 * Random bytes for values that are public as soon as they are used, such as certificate nonces
 * and serials. They come from a pooled buffer: one call into the CSPRNG per 4 KiB rather than one
 * per value, which showed in the profile of certificate issue. Never for secrets (keys, tokens),
 * which must not sit in a long-lived buffer beside each other.
 */
export function publicRandomBytes(length: number): Buffer {
  if (length > PUBLIC_POOL_SIZE) return randomBytes(length);
  if (publicPoolOffset + length > publicPool.length) {
    publicPool = randomBytes(PUBLIC_POOL_SIZE);
    publicPoolOffset = 0;
  }
  const bytes = Buffer.from(publicPool.subarray(publicPoolOffset, publicPoolOffset + length));
  publicPoolOffset += length;
  return bytes;
}
