import { afterEach, describe, expect, it } from "vitest";
import { useServerProcess } from "../helpers/server-process.js";
import { openRawSocket, sleep, type RawSocket } from "./support/raw-socket.js";

/**
 * Attack (slowloris): start a request and never finish its headers, or send them a byte at a
 * time, holding the connection forever. With headers_timeout 1 s (and the idle timeout left
 * long, so that it is not what closes them) the server answers HTTP/1.1 with 408 and closes;
 * an HTTP/2 connection whose preface never completes is closed too.
 */
const WAIT_MS = 10_000;

describe("slow request headers (headers_timeout 1s)", () => {
  const server = useServerProcess(() => ({ env: { WARDEN_HEADERS_TIMEOUT: "1", WARDEN_CONNECTION_IDLE_TIMEOUT: "120" } }));
  const sockets: RawSocket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });
  const open = async () => {
    const s = await openRawSocket(server().port);
    sockets.push(s);
    return s;
  };

  it("HTTP/1.1: half a request line -> 408 and the connection closes", async () => {
    const s = await open();
    await s.write("GET /healthz HT");
    expect(await s.waitClosed(WAIT_MS)).toBe(true);
    expect(s.closedByServer()).toBe(true);
    expect(s.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it("HTTP/1.1: headers sent a byte every 200 ms -> 408 and closed before they are done", async () => {
    const s = await open();
    await s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
    let sent = 0;
    while (!s.isClosed() && sent < 60) {
      await s.write("a").catch(() => {});
      sent++;
      await sleep(200);
    }
    expect(s.isClosed(), `still open after ${sent} bytes`).toBe(true);
    expect(s.closedByServer()).toBe(true);
    expect(s.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it("HTTP/2: a preface that never completes -> the connection closes", async () => {
    const s = await open();
    await s.write("PRI * HTTP/2.0\r\n");
    expect(await s.waitClosed(WAIT_MS)).toBe(true);
    expect(s.closedByServer()).toBe(true);
  });

  it("a prompt request on a fresh connection is still served", async () => {
    const s = await open();
    await s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    expect(await s.waitClosed(WAIT_MS)).toBe(true);
    expect(s.received()).toMatch(/^HTTP\/1\.1 200/);
  });
});
