import * as http2 from "node:http2";
import { Code, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { HealthService } from "../../gen/warden/health/v1/health_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { loadConfig } from "../../src/config.js";
import { errorOf } from "../helpers/expect-error.js";
import { useServedApp } from "../helpers/served-app.js";

const PAGE = "http://127.0.0.1:5173";
const OTHER_PAGE = "https://app.example.com";
const STRANGER = "https://evil.example.net";
const VALIDATE = "warden.session.v1.SessionService/ValidateSession";

/** A preflight as a browser sends it before a cross-origin Connect call with a bearer token. */
const preflight = (origin: string) => ({
  method: "OPTIONS",
  headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,connect-protocol-version,content-type" },
});

/** The Access-Control-* headers of a response, by lowercase name. */
function corsHeadersOf(headers: Headers): Record<string, string> {
  return Object.fromEntries([...headers].filter(([k]) => k.startsWith("access-control-")));
}

const list = (value: string | null) => (value ?? "").split(",").map((s) => s.trim().toLowerCase());

/**
 * The response headers of one call made through `transport` with an Origin header: an anonymous
 * HealthCheck that succeeds, or a ValidateSession without a token that fails (its error's
 * metadata holds the response headers).
 */
async function rpcHeadersFrom(transport: Transport, origin: string, authenticated: boolean): Promise<{ headers: Headers; code?: Code }> {
  let headers = new Headers();
  const onHeader = (h: Headers) => (headers = h);
  const call = authenticated
    ? createClient(SessionService, transport).validateSession({}, { headers: { origin }, onHeader })
    : createClient(HealthService, transport).healthCheck({}, { headers: { origin }, onHeader });
  const err = await errorOf(call);
  return { headers: err?.metadata ?? headers, code: err?.code };
}

describe("cors_allowed_origins validation", () => {
  const parse = (value: string) => loadConfig({}, { cors_allowed_origins: value, master_key: "k".repeat(32) }).cors_allowed_origins;

  it("takes comma-separated exact origins; empty is none", () => {
    expect(parse("")).toEqual([]);
    expect(parse(` ${PAGE} , ${OTHER_PAGE},http://[::1]:3000`)).toEqual([PAGE, OTHER_PAGE, "http://[::1]:3000"]);
  });

  it.each([
    "*",
    "https://*.example.com",
    "https://app.example.com/",
    "https://app.example.com/login",
    "app.example.com",
    "null",
    "ftp://example.com",
    "https://App.example.com",
    "https://app.example.com:443",
  ])("refuses %s, naming it", (value) => {
    expect(() => parse(`${PAGE},${value}`)).toThrow(`"${value}" is not an origin`);
  });
});

describe("CORS for listed origins (real server)", () => {
  const served = useServedApp({ cors_allowed_origins: `${PAGE},${OTHER_PAGE}` });

  it("answers a preflight from a listed origin 204 with that origin, credentials, methods, headers and max-age", async () => {
    for (const origin of [PAGE, OTHER_PAGE]) {
      const res = await fetch(`${served().server.url}/${VALIDATE}`, preflight(origin));
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe(origin);
      expect(res.headers.get("access-control-allow-credentials")).toBe("true");
      expect(list(res.headers.get("access-control-allow-methods"))).toEqual(["post", "get"]);
      const allowed = list(res.headers.get("access-control-allow-headers"));
      // Connect, gRPC-Web (connect-web's and Google's runtime), the bearer token, a request id.
      for (const h of [
        "content-type",
        "connect-protocol-version",
        "connect-timeout-ms",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "authorization",
        "x-request-id",
      ])
        expect(allowed).toContain(h);
      expect(res.headers.get("access-control-max-age")).toBe("7200");
      expect(res.headers.get("vary")).toBe("Origin");
      expect(await res.text()).toBe("");
    }
  });

  it("refuses a preflight from any other origin with 403 and not one Access-Control-* header", async () => {
    for (const origin of [STRANGER, "null", `${PAGE}/`, "http://127.0.0.1:5174", PAGE.replace("http:", "https:")]) {
      const res = await fetch(`${served().server.url}/${VALIDATE}`, preflight(origin));
      expect(res.status, origin).toBe(403);
      expect(corsHeadersOf(res.headers), origin).toEqual({});
      expect(res.headers.get("vary")).toBe("Origin");
    }
  });

  it.each([
    ["Connect (HTTP/1.1)", (url: string) => createConnectTransport({ baseUrl: url, httpVersion: "1.1" })],
    ["gRPC-Web (HTTP/1.1)", (url: string) => createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" })],
    ["gRPC (HTTP/2)", (url: string) => createGrpcTransport({ baseUrl: url })],
  ])("%s: answers and errors from a listed origin carry the CORS headers; a stranger's carry none", async (_name, transportFor) => {
    const transport = transportFor(served().server.url);
    const ok = await rpcHeadersFrom(transport, PAGE, false);
    expect(ok.code).toBeUndefined();
    // An error too: a page reads its code only if the browser lets it see the response.
    const refused = await rpcHeadersFrom(transport, PAGE, true);
    expect(refused.code).toBe(Code.Unauthenticated);
    for (const { headers } of [ok, refused]) {
      expect(headers.get("access-control-allow-origin")).toBe(PAGE);
      expect(headers.get("access-control-allow-credentials")).toBe("true");
      const exposed = list(headers.get("access-control-expose-headers"));
      for (const h of ["grpc-status", "grpc-message", "grpc-status-details-bin", "x-request-id", "retry-after"]) expect(exposed).toContain(h);
      expect(headers.get("vary")).toBe("Origin");
      expect(headers.get("access-control-allow-methods")).toBeNull();
    }
    for (const authenticated of [false, true]) {
      const stranger = await rpcHeadersFrom(transport, STRANGER, authenticated);
      expect(stranger.code).toBe(authenticated ? Code.Unauthenticated : undefined);
      expect(corsHeadersOf(stranger.headers)).toEqual({});
    }
  });

  it("plain routes carry them too (health, JWKS, unknown paths), only for a listed origin", async () => {
    for (const path of ["/healthz", "/.well-known/jwks.json", "/no-such-path"]) {
      const listed = await fetch(`${served().server.url}${path}`, { headers: { origin: PAGE } });
      expect(listed.status).toBe(path === "/no-such-path" ? 404 : 200);
      expect(listed.headers.get("access-control-allow-origin"), path).toBe(PAGE);
      expect(listed.headers.get("access-control-allow-credentials"), path).toBe("true");
      expect(listed.headers.get("vary"), path).toBe("Origin");
      const stranger = await fetch(`${served().server.url}${path}`, { headers: { origin: STRANGER } });
      expect(corsHeadersOf(stranger.headers), path).toEqual({});
      // JWKS is publicly cacheable: without Vary a cache could hand one origin's answer to another.
      expect(stranger.headers.get("vary"), path).toBe("Origin");
      const none = await fetch(`${served().server.url}${path}`);
      expect(corsHeadersOf(none.headers), path).toEqual({});
    }
    expect((await fetch(`${served().server.url}/.well-known/jwks.json`, { headers: { origin: PAGE } })).headers.get("cache-control")).toBe(
      "public, max-age=300",
    );
  });

  it("the same over HTTP/2: preflight and an actual call", async () => {
    const session = http2.connect(served().server.url);
    const h2 = (headers: http2.OutgoingHttpHeaders, body?: string) =>
      new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const req = session.request(headers);
        req.on("response", (h) => {
          req.resume();
          req.on("end", () => resolve(h));
        });
        req.on("error", reject);
        req.end(body);
      });
    try {
      const pre = await h2({ ":method": "OPTIONS", ":path": `/${VALIDATE}`, ...preflight(PAGE).headers });
      expect(pre[":status"]).toBe(204);
      expect(pre["access-control-allow-origin"]).toBe(PAGE);
      expect(pre["access-control-max-age"]).toBe("7200");
      const refused = await h2({ ":method": "OPTIONS", ":path": `/${VALIDATE}`, ...preflight(STRANGER).headers });
      expect(refused[":status"]).toBe(403);
      expect(Object.keys(refused).filter((k) => k.startsWith("access-control-"))).toEqual([]);
      const call = await h2(
        { ":method": "POST", ":path": `/${VALIDATE}`, origin: PAGE, "content-type": "application/json", "connect-protocol-version": "1" },
        "{}",
      );
      expect(call[":status"]).toBe(401);
      expect(call["access-control-allow-origin"]).toBe(PAGE);
      expect(call["access-control-expose-headers"]).toContain("Grpc-Status");
    } finally {
      session.close();
    }
  });
});

describe("without cors_allowed_origins (the default)", () => {
  const served = useServedApp();

  it("adds no CORS header and no Vary anywhere; a preflight gets today's answer", async () => {
    const url = served().server.url;
    const withOrigin = await fetch(`${url}/${VALIDATE}`, preflight(PAGE));
    const without = await fetch(`${url}/${VALIDATE}`, { method: "OPTIONS" });
    expect(withOrigin.status).toBe(without.status);
    expect(withOrigin.status).not.toBe(204);
    for (const res of [withOrigin, without, await fetch(`${url}/healthz`, { headers: { origin: PAGE } })]) {
      expect(corsHeadersOf(res.headers)).toEqual({});
      expect(res.headers.get("vary")).toBeNull();
    }
    const { headers, code } = await rpcHeadersFrom(createConnectTransport({ baseUrl: url, httpVersion: "1.1" }), PAGE, false);
    expect(code).toBeUndefined();
    expect(corsHeadersOf(headers)).toEqual({});
    expect(headers.get("vary")).toBeNull();
  });
});
