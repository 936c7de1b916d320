import type { Config } from "../config.js";

/** What one connection, and all of them together, may hold: the settings of src/config.ts in the units node takes. */
export interface ConnectionLimits {
  /** Open connections at once; more are closed as soon as they are accepted. */
  maxConnections: number;
  /** HTTP/2 connections from one client address at once. */
  maxSessionsPerAddress: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams one HTTP/2 connection may have open. */
  maxConcurrentStreams: number;
  /** Request header block, HTTP/2 (SETTINGS_MAX_HEADER_LIST_SIZE) and HTTP/1.1 alike. */
  maxHeaderListBytes: number;
  /** A connection with no request in progress (nothing sent yet, HTTP/1.1 keep-alive, HTTP/2 without streams). */
  idleMs: number;
  /** A request's headers (HTTP/1.1), or an HTTP/2 connection's preface, from their first byte. */
  headersMs: number;
  /** A request body, from the end of its headers until its last byte. */
  bodyMs: number;
  /** An HTTP/2 request body that stops arriving. */
  streamIdleMs: number;
}

export function connectionLimits(config: Config): ConnectionLimits {
  return {
    maxConnections: config.max_connections,
    maxSessionsPerAddress: config.max_sessions_per_address,
    maxConcurrentStreams: config.http2_max_concurrent_streams,
    maxHeaderListBytes: config.max_header_list_bytes,
    idleMs: config.connection_idle_timeout * 1000,
    headersMs: config.headers_timeout * 1000,
    bodyMs: config.request_body_timeout * 1000,
    streamIdleMs: config.stream_idle_timeout * 1000,
  };
}
