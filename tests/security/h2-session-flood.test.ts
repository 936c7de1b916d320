import * as http2 from "node:http2";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { useServerProcess, type StartOptions } from "../helpers/server-process.js";
import { sleep } from "./support/raw-socket.js";

/**
 * Attack: one client address opens many HTTP/2 connections, each allowed its own streams, to
 * multiply what the per-connection limit allows. With max_sessions_per_address 3, the fourth
 * is turned away at once; the first three keep working, and a closed one frees its place.
 */
const MAX = 3;

interface Session {
  session: http2.ClientHttp2Session;
  goaway?: number;
  closed: boolean;
}

function open(baseUrl: string, options: http2.SecureClientSessionOptions = {}): Session {
  const s: Session = { session: http2.connect(baseUrl, options), closed: false };
  s.session.on("error", () => {});
  s.session.on("goaway", (code) => (s.goaway ??= code));
  s.session.on("close", () => (s.closed = true));
  return s;
}

/** GET /healthz on the session: the HTTP status, or the error's code when the stream failed. */
function healthz(s: Session): Promise<number | string> {
  return new Promise((resolve) => {
    let req: http2.ClientHttp2Stream;
    try {
      req = s.session.request({ ":path": "/healthz" });
    } catch (err) {
      resolve((err as NodeJS.ErrnoException).code ?? "error");
      return;
    }
    let status = 0;
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("data", () => {});
    req.on("end", () => resolve(status));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    req.on("close", () => resolve(status || `closed ${req.rstCode}`));
    req.end();
  });
}

/** The same attack in cleartext (h2c) and over TLS (h2 by ALPN). */
function sessionFlood(name: string, start: () => StartOptions, clientOptions: () => http2.SecureClientSessionOptions = () => ({})) {
  describe(`HTTP/2 ${name}: many connections from one address (max_sessions_per_address ${MAX})`, () => {
    const server = useServerProcess(start);
    const sessions: Session[] = [];
    afterEach(() => {
      for (const s of sessions.splice(0)) s.session.destroy();
    });

    it("turns away connection number max+1 at once; the first max stay usable; a closed one frees its place", async () => {
      const base = server().baseUrl;
      const connect = () => open(base, clientOptions());
      for (let i = 0; i < MAX; i++) sessions.push(connect());
      expect(await Promise.all(sessions.map(healthz))).toEqual(Array(MAX).fill(200));

      const extra = connect();
      sessions.push(extra);
      const answer = await healthz(extra);
      for (let i = 0; i < 100 && !extra.closed; i++) await sleep(50);
      expect(answer, "the extra connection was served").not.toBe(200);
      expect(extra.closed).toBe(true);

      expect(await Promise.all(sessions.slice(0, MAX).map(healthz))).toEqual(Array(MAX).fill(200));

      // Closing one makes room for another.
      sessions[0]!.session.close();
      for (let i = 0; i < 100 && !sessions[0]!.closed; i++) await sleep(50);
      await sleep(200); // the server sees the close after the client does
      const next = connect();
      sessions.push(next);
      expect(await healthz(next)).toBe(200);
    });
  });
}

const env = { WARDEN_MAX_SESSIONS_PER_ADDRESS: String(MAX) };
sessionFlood("in cleartext", () => ({ env }));

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki?.cleanup());
sessionFlood(
  "over TLS",
  () => ({ env: { ...env, WARDEN_TLS_CERT_FILE: pki.server.cert, WARDEN_TLS_KEY_FILE: pki.server.key } }),
  () => ({ ca: pki.read(pki.ca.cert), servername: "localhost" }),
);
