/** How many items to ask for per page; the server caps it anyway. */
const PAGE_SIZE = 200;

/** Every item of a paged list: pages are fetched until the server gives no next page token. */
export async function allPages<T>(fetchPage: (pageSize: number, pageToken: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
  const items: T[] = [];
  const seen = new Set<string>();
  let token = "";
  do {
    const page = await fetchPage(PAGE_SIZE, token);
    items.push(...page.items);
    // A server that hands back a token already followed would loop forever.
    if (seen.has(page.next)) break;
    seen.add(page.next);
    token = page.next;
  } while (token);
  return items;
}
