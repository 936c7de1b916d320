/**
 * Whether 32 bytes decode to a point on edwards25519 (RFC 8032 section 5.1.3). node:crypto
 * imports any 32 bytes as an Ed25519 public key, so a key that can never verify anything is
 * caught here instead of at the first login.
 */

const P = (1n << 255n) - 19n;
const D = mod(-121665n * inverse(121666n));
const SQRT_MINUS_ONE = power(2n, (P - 1n) / 4n);

export function isEd25519Point(encoded: Uint8Array): boolean {
  if (encoded.length !== 32) return false;
  const xIsOdd = (encoded[31] & 0x80) !== 0;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? encoded[i] & 0x7f : encoded[i]);
  if (y >= P) return false;

  // x^2 = (y^2 - 1) / (d y^2 + 1); the point exists iff that has a square root mod p.
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  let x = mod(u * power(v, 3n) * power(u * power(v, 7n), (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === mod(-u)) x = mod(x * SQRT_MINUS_ONE);
  else if (vx2 !== u) return false;
  return !(x === 0n && xIsOdd);
}

function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = mod(result * b);
    b = mod(b * b);
  }
  return result;
}

function inverse(a: bigint): bigint {
  return power(a, P - 2n);
}
