import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { cors } from "@connectrpc/connect";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

/** Beyond the protocol headers connect-es lists: the bearer credential and a caller's request id. */
export const ALLOWED_HEADERS = [...cors.allowedHeaders, "Authorization", "X-Request-Id", "X-Csrf-Token"];
/** Beyond grpc-status/-message/-status-details-bin: our request id and a rate limit's retry hint. */
export const EXPOSED_HEADERS = [...cors.exposedHeaders, "X-Request-Id", "Retry-After"];
/** Chromium caps a preflight's cache at two hours; longer is ignored. */
export const MAX_AGE_SECONDS = 7200;

/**
 * CORS for the pages at `origins` (exact origins, as a browser sends them): the RPCs of every
 * protocol and the plain routes share it. Returns a function to call first on every request:
 * it sets the headers of an actual request from a listed origin on `res` (writeHead adds them to
 * whatever the route writes) and answers a preflight itself, returning true.
 *
 * A listed origin is echoed, never "*": the pages send credentials (Allow-Credentials: true),
 * which a wildcard forbids. A preflight from any other origin is answered 403 without a single
 * Access-Control-* header: the browser refuses the call, and a person reading the network tab
 * or a curl sees a refusal rather than an empty success. With no origins, nothing changes: no
 * header is added and OPTIONS goes on to the routes as before.
 */
export function corsPolicy(origins: readonly string[]): (req: Req, res: Res) => boolean {
  if (origins.length === 0) return () => false;
  const allowed = new Set(origins);
  const allowHeaders = ALLOWED_HEADERS.join(", ");
  const allowMethods = cors.allowedMethods.join(", ");
  const exposeHeaders = EXPOSED_HEADERS.join(", ");
  return (req, res) => {
    const origin = req.headers.origin;
    // Every answer depends on Origin now, so a shared cache must key on it (JWKS is cacheable).
    res.setHeader("vary", "Origin");
    const listed = typeof origin === "string" && allowed.has(origin);
    if (req.method === "OPTIONS" && origin !== undefined && req.headers["access-control-request-method"] !== undefined) {
      if (!listed) {
        (res as ServerResponse).writeHead(403);
        res.end();
        return true;
      }
      (res as ServerResponse).writeHead(204, {
        "access-control-allow-origin": origin,
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": allowMethods,
        "access-control-allow-headers": allowHeaders,
        "access-control-max-age": String(MAX_AGE_SECONDS),
      });
      res.end();
      return true;
    }
    if (listed) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-allow-credentials", "true");
      res.setHeader("access-control-expose-headers", exposeHeaders);
    }
    return false;
  };
}
