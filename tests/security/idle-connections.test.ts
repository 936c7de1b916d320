import * as tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { useServerProcess } from "../helpers/server-process.js";
import { FRAME, openRawH2, type RawH2 } from "./support/raw-h2.js";
import { openRawSocket, type RawSocket } from "./support/raw-socket.js";

/**
 * Attack: open connections and leave them idle until the server runs out of file descriptors
 * (350 idle sockets exhausted a 400-descriptor limit). With connection_idle_timeout 1 s every
 * idle connection is closed: before its first byte, between HTTP/1.1 requests, and an HTTP/2
 * connection without streams. The waits are generous; the assertions are on what the socket
 * sees, never on how long it took.
 */
const WAIT_MS = 10_000;

describe("idle connections in cleartext (connection_idle_timeout 1s)", () => {
  const server = useServerProcess(() => ({ env: { WARDEN_CONNECTION_IDLE_TIMEOUT: "1" } }));
  const open: { close(): void }[] = [];
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });
  const track = <T extends RawSocket | RawH2>(s: T): T => {
    open.push({ close: () => ("destroy" in s ? s.destroy() : s.close()) });
    return s;
  };

  it("closes a connection that never sends a byte, without answering", async () => {
    const s = track(await openRawSocket(server().port));
    expect(await s.waitClosed(WAIT_MS)).toBe(true);
    expect(s.closedByServer()).toBe(true);
    expect(s.received()).toBe("");
  });

  it("closes an HTTP/1.1 keep-alive connection that stays idle after its request", async () => {
    const s = track(await openRawSocket(server().port));
    await s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    expect(await s.waitFor((t) => t.includes('{"status":"ok"}'), WAIT_MS)).toBe(true);
    expect(s.received()).toMatch(/^HTTP\/1\.1 200/);
    expect(await s.waitClosed(WAIT_MS)).toBe(true);
    expect(s.closedByServer()).toBe(true);
  });

  it("closes an HTTP/2 connection that opens no stream, with GOAWAY", async () => {
    const h2 = track(await openRawH2(server().port));
    expect(await h2.raw.waitClosed(WAIT_MS)).toBe(true);
    expect(h2.raw.closedByServer()).toBe(true);
    expect(h2.frames.some((f) => f.type === FRAME.SETTINGS)).toBe(true);
    expect(h2.goaway()).toBeDefined();
  });
});

describe("idle connections with TLS (connection_idle_timeout 1s)", () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });
  afterAll(() => pki?.cleanup());
  const server = useServerProcess(() => ({
    env: { WARDEN_TLS_CERT_FILE: pki.server.cert, WARDEN_TLS_KEY_FILE: pki.server.key, WARDEN_CONNECTION_IDLE_TIMEOUT: "1" },
  }));

  it("closes a connection that never starts its TLS handshake", async () => {
    const s = await openRawSocket(server().port);
    try {
      expect(await s.waitClosed(WAIT_MS)).toBe(true);
      expect(s.closedByServer()).toBe(true);
    } finally {
      s.destroy();
    }
  });

  it("closes an HTTP/2 connection over TLS that opens no stream", async () => {
    const socket = tls.connect({ host: "127.0.0.1", port: server().port, servername: "localhost", ca: pki.read(pki.ca.cert), ALPNProtocols: ["h2"] });
    socket.on("error", () => {});
    let received = Buffer.alloc(0);
    socket.on("data", (d: Buffer) => (received = Buffer.concat([received, d])));
    try {
      const closed = new Promise<boolean>((resolve) => socket.once("close", () => resolve(true)));
      await new Promise<void>((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
      expect(socket.alpnProtocol).toBe("h2");
      socket.write(Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", "latin1"));
      expect(await Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), WAIT_MS))])).toBe(true);
      // The server's SETTINGS, then a GOAWAY frame (type 7).
      expect(received.includes(Buffer.from([0x07, 0x00, 0x00, 0x00, 0x00, 0x00]))).toBe(true);
    } finally {
      socket.destroy();
    }
  });
});
