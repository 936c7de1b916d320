import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { ConnectionLimits } from "./connection-limits.js";

/** The HTTP/1.1 knobs node reads from a server object (http.Server, or Http2SecureServer with allowHTTP1). */
interface Http1Knobs {
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
  maxHeaderSize?: number;
}

/**
 * Node's own HTTP/1.1 timeouts: headers within headers_timeout of a request's first byte (or of
 * the connection, before any), the whole request within headers_timeout + request_body_timeout
 * (both answer 408 and close), and keep-alive connections closed after connection_idle_timeout.
 * They are checked every connectionsCheckingInterval, so that runs often enough for short timeouts.
 */
export function applyHttp1Timeouts(server: http.Server | http2.Http2SecureServer, limits: ConnectionLimits): void {
  const knobs = server as unknown as Http1Knobs;
  knobs.headersTimeout = limits.headersMs;
  knobs.requestTimeout = limits.headersMs + limits.bodyMs;
  knobs.keepAliveTimeout = limits.idleMs;
  knobs.connectionsCheckingInterval = Math.min(1000, limits.headersMs / 2);
  knobs.maxHeaderSize = limits.maxHeaderListBytes;
}

/**
 * Node starts checking headersTimeout and requestTimeout when a server emits "listening". The
 * cleartext HTTP/1.1 server never listens itself (the protocol sniffer hands it sockets), so
 * without this its connections were never timed out at all.
 */
export function startHttp1Timeouts(server: http.Server): void {
  server.emit("listening");
}
