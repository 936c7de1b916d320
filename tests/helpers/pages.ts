import { expect } from "vitest";

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const ISO = "2030-01-01T00:00:00.000Z";

/**
 * Page tokens no server issued, each invalid for every kind of cursor (time+id and sequence):
 * garbage, not JSON, the wrong shape, or values a query could not use.
 */
export const BAD_PAGE_TOKENS: [string, string][] = [
  ["garbage", "!!not-a-token!!"],
  ["not JSON", b64("hello")],
  ["a JSON array", b64("[]")],
  ["JSON null", b64("null")],
  ["an empty object", b64({})],
  ["a time that is not a time", b64({ t: "yesterday", id: "abc", s: "x" })],
  ["a time that is a number", b64({ t: 12, id: "abc" })],
  ["an object as id", b64({ t: ISO, id: { $gt: "" } })],
  ["a sequence that is not a number", b64({ s: "ten" })],
  ["an out-of-range sequence", b64({ s: 1e300 })],
  ["a negative sequence", b64({ s: -5 })],
];

/** A well-formed time+id cursor whose id is not a user id (users are keyed by UUID). */
export const NON_UUID_USER_CURSOR = b64({ t: ISO, id: "not-a-uuid" });

/**
 * Walks a paginated list with the given page size, checking every page is full but the last,
 * and returns the ids of all rows in order.
 */
export async function collectPages<R>(
  fetch: (pageToken: string) => Promise<{ items: R[]; nextPageToken: string }>,
  idOf: (row: R) => string,
  pageSize: number,
): Promise<string[]> {
  const ids: string[] = [];
  let token = "";
  for (let pages = 0; ; pages++) {
    expect(pages, "pagination does not end").toBeLessThan(1000);
    const page = await fetch(token);
    ids.push(...page.items.map(idOf));
    if (!page.nextPageToken) {
      expect(page.items.length).toBeLessThanOrEqual(pageSize);
      return ids;
    }
    expect(page.items).toHaveLength(pageSize);
    token = page.nextPageToken;
  }
}
