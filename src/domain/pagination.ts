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

const isScalar = (v: unknown) => typeof v === "string" || typeof v === "number";

/** Cursor fields with a known meaning are checked, so a forged token never reaches a query. */
const CURSOR_FIELDS: Record<string, (v: unknown) => boolean> = {
  // A creation time, as toISOString() wrote it.
  t: (v) => typeof v === "string" && !Number.isNaN(Date.parse(v)),
  // An audit sequence number.
  s: (v) => typeof v === "number" && Number.isSafeInteger(v) && v > 0,
  // A user id.
  u: (v) => typeof v === "string" && UUID.test(v),
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function decodePageToken<T extends Record<string, string | number>>(token: string, keys: (keyof T)[]): T | undefined {
  if (!token) return undefined;
  try {
    const value = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as T;
    if (typeof value !== "object" || value === null) throw new Error("not an object");
    for (const k of keys) if (!(CURSOR_FIELDS[k as string] ?? isScalar)(value[k])) throw new Error("missing or bad key");
    return value;
  } catch {
    throw invalidArgument("page_token", "is not a token this server issued");
  }
}

/** Rows fetched with limit size + 1: the page, and a token when there is more. */
export function pageOf<T>(rows: T[], size: number, cursorOf: (last: T) => Record<string, string | number>): { items: T[]; nextPageToken: string } {
  const items = rows.slice(0, size);
  const last = items[items.length - 1];
  return { items, nextPageToken: rows.length > size && last ? encodePageToken(cursorOf(last)) : "" };
}

/** The common keyset cursor: creation time, then id. */
export function decodeCreatedCursor(token: string, idIsUuid = true): { createdAt: Date; id: string } | undefined {
  const c = decodePageToken<{ t: string; id: string }>(token, ["t", "id"]);
  // A forged id that the id column cannot hold must be a bad token, not a database error.
  if (c && idIsUuid && !UUID.test(c.id)) throw invalidArgument("page_token", "is not a token this server issued");
  return c ? { createdAt: new Date(c.t), id: c.id } : undefined;
}

export function createdCursorOf(row: { createdAt: Date; id: string }): { t: string; id: string } {
  return { t: row.createdAt.toISOString(), id: row.id };
}
