import { afterEach, describe, expect, it } from "vitest";
import { useServerProcess } from "../helpers/server-process.js";
import { FRAME, openRawH2, SETTING, type RawH2 } from "./support/raw-h2.js";

/**
 * Attack: request headers far larger than any client needs, which the server would buffer in
 * full for every stream. The default limit is 64 KiB of header list (max_header_list_bytes).
 */
const LIMIT = 64 * 1024;

function getHeaders(extra: [string, string][]): [string, string][] {
  return [[":method", "GET"], [":scheme", "http"], [":authority", "127.0.0.1"], [":path", "/healthz"], ...extra];
}

/** `count` headers of 10,000 bytes each. */
const padding = (count: number): [string, string][] => Array.from({ length: count }, (_, i) => [`x-pad-${i}`, "a".repeat(10_000)]);

describe("HTTP/2: an oversized header list (default settings)", () => {
  const server = useServerProcess();
  let client: RawH2 | undefined;
  afterEach(() => client?.close());

  const answered = (c: RawH2, id: number) => c.frames.some((f) => f.type === FRAME.HEADERS && f.streamId === id);

  it(`advertises SETTINGS_MAX_HEADER_LIST_SIZE ${LIMIT} and refuses a 100 KB header list, while 50 KB is served`, async () => {
    client = await openRawH2(server().port);
    const c = client;
    await c.waitUntil(() => c.settings.size > 0, 10_000);

    await c.openStream(1, getHeaders(padding(10)), true); // ~100 KB
    await c.openStream(3, getHeaders(padding(5)), true); // ~50 KB
    await c.waitUntil(() => (c.resets.has(1) || c.goaway() !== undefined || answered(c, 1)) && answered(c, 3), 15_000);

    expect(answered(c, 1), "the 100 KB request was answered").toBe(false);
    expect(c.resets.has(1) || (c.goaway()?.lastStreamId ?? Infinity) < 1).toBe(true);
    expect(answered(c, 3), "the 50 KB request was answered").toBe(true);
    expect(c.settings.get(SETTING.MAX_HEADER_LIST_SIZE)).toBe(LIMIT);
  });
});
