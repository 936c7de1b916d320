import { randomBytes } from "node:crypto";

export const API_KEY_PREFIX = "wdn_k_";
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const API_KEY = /^wdn_k_[A-Za-z0-9]{64}$/;

/** 64 characters of base62 from the CSPRNG (rejection sampling keeps it unbiased): ~381 bits. */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

export function newApiKey(): string {
  return API_KEY_PREFIX + randomBase62(64);
}

export function isApiKeyFormat(value: string): boolean {
  return API_KEY.test(value);
}

/** What may be shown of a key: enough to recognise it, never enough to use it. */
export function displayPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + 6);
}
