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

/** One page of a List call: its rows and the token of the next page ("" after the last). */
export interface Page<R> {
  items: R[];
  nextPageToken: string;
}

/**
 * Walks a paginated list with the given page size and checks the walk: no page is larger than
 * the size, every page but the last is full, no row comes twice (pages are disjoint), and the
 * pagination ends. Returns the rows and their ids in order, and how many pages it took.
 */
export async function collectPages<R>(
  fetch: (pageToken: string) => Promise<Page<R>>,
  idOf: (row: R) => string,
  pageSize: number,
): Promise<{ items: R[]; ids: string[]; pages: number }> {
  const items: R[] = [];
  const ids: string[] = [];
  const seen = new Set<string>();
  let token = "";
  for (let pages = 1; ; pages++) {
    expect(pages, "pagination does not end").toBeLessThanOrEqual(1000);
    const page = await fetch(token);
    expect(page.items.length, `page ${pages} is larger than the page size`).toBeLessThanOrEqual(pageSize);
    for (const row of page.items) {
      const id = idOf(row);
      expect(seen.has(id), `row ${id} of page ${pages} came before`).toBe(false);
      seen.add(id);
      items.push(row);
      ids.push(id);
    }
    if (!page.nextPageToken) return { items, ids, pages };
    expect(page.items, `page ${pages} is not the last but is not full`).toHaveLength(pageSize);
    token = page.nextPageToken;
  }
}
