import { afterEach, describe, expect, it } from "vitest";
import { useServerProcess } from "../helpers/server-process.js";
import { openRawSocket, sleep, type RawSocket } from "./support/raw-socket.js";

/**
 * Attack: open connections until the process runs out of file descriptors. With
 * max_connections 5, connection number 6 is closed as soon as it is accepted, while the first
 * five keep being served; closing one makes room again.
 */
const MAX = 5;
const WAIT_MS = 10_000;
const REQUEST = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
const countOk = (s: RawSocket) => s.received().split("HTTP/1.1 200").length - 1;

describe(`total connections (max_connections ${MAX})`, () => {
  const server = useServerProcess(() => ({ env: { WARDEN_MAX_CONNECTIONS: String(MAX) } }));
  const sockets: RawSocket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });
  const open = async () => {
    const s = await openRawSocket(server().port);
    sockets.push(s);
    return s;
  };
  const served = async (s: RawSocket, times: number) => {
    await s.write(REQUEST);
    return s.waitFor(() => countOk(s) >= times, WAIT_MS);
  };

  it("closes connection number max+1 at once; the first max stay usable", async () => {
    const first: RawSocket[] = [];
    for (let i = 0; i < MAX; i++) first.push(await open());
    expect(await Promise.all(first.map((s) => served(s, 1)))).toEqual(Array(MAX).fill(true));

    const extra = await open();
    await extra.write(REQUEST).catch(() => {});
    expect(await extra.waitClosed(WAIT_MS)).toBe(true);
    expect(extra.closedByServer()).toBe(true);
    expect(extra.received()).toBe("");

    expect(await Promise.all(first.map((s) => served(s, 2)))).toEqual(Array(MAX).fill(true));
    expect(first.every((s) => !s.isClosed())).toBe(true);

    // A closed connection frees its place.
    first[0]!.destroy();
    await sleep(300);
    const next = await open();
    expect(await served(next, 1)).toBe(true);
  });
});
