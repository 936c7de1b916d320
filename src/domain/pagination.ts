import { invalidArgument } from "./errors.js";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export function pageSize(requested: number): number {
  if (requested < 0) throw invalidArgument("page_size", "must not be negative");
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(requested, MAX_PAGE_SIZE);
}

/** Opaque keyset cursor: the sort key of the last row a page returned. */
export function encodePageToken(cursor: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

export function decodePageToken<T extends Record<string, string | number>>(token: string, keys: (keyof T)[]): T | undefined {
  if (!token) return undefined;
  try {
    const value = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as T;
    if (typeof value !== "object" || value === null) throw new Error("not an object");
    for (const k of keys) if (!["string", "number"].includes(typeof value[k])) throw new Error("missing key");
    return value;
  } catch {
    throw invalidArgument("page_token", "is not a token this server issued");
  }
}
