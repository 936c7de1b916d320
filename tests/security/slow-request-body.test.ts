import { afterEach, describe, expect, it } from "vitest";
import { useServerProcess } from "../helpers/server-process.js";
import { openRawSocket, sleep, type RawSocket } from "./support/raw-socket.js";

/**
 * Attack (slow POST): send the headers promptly, then the body a byte at a time, so that a
 * handler waits on it for as long as the client likes. With request_body_timeout 1 s the
 * HTTP/1.1 request is cut with 408 (HTTP/2 bodies: h2-stalled-request-body.test.ts).
 */
const WAIT_MS = 10_000;
const LOGIN = "/warden.auth.v1.AuthService/Login";

describe("HTTP/1.1: a request body that trickles (request_body_timeout 1s)", () => {
  const server = useServerProcess(() => ({ env: { WARDEN_REQUEST_BODY_TIMEOUT: "1", WARDEN_HEADERS_TIMEOUT: "1", WARDEN_CONNECTION_IDLE_TIMEOUT: "120" } }));
  const sockets: RawSocket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });

  const post = (length: number) => `POST ${LOGIN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

  it("cuts the request with 408 before the body is done", async () => {
    const s = await openRawSocket(server().port);
    sockets.push(s);
    await s.write(post(1000) + "{");
    let sent = 1;
    while (!s.isClosed() && sent < 60) {
      await s.write(" ").catch(() => {});
      sent++;
      await sleep(200);
    }
    expect(s.isClosed(), `still open after ${sent} of 1000 bytes`).toBe(true);
    expect(s.closedByServer()).toBe(true);
    expect(s.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it("cuts a body that stops arriving", async () => {
    const s = await openRawSocket(server().port);
    sockets.push(s);
    await s.write(post(100) + '{"email":');
    expect(await s.waitClosed(WAIT_MS)).toBe(true);
    expect(s.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it("serves a body that arrives at once", async () => {
    const s = await openRawSocket(server().port);
    sockets.push(s);
    const body = JSON.stringify({ email: "nobody@example.com", password: "wrong-password-123" });
    await s.write(post(Buffer.byteLength(body)).replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n") + body);
    expect(await s.waitClosed(WAIT_MS)).toBe(true);
    expect(s.received()).toMatch(/^HTTP\/1\.1 401/);
  });
});
