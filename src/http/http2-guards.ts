import * as http2 from "node:http2";
import { DeadlineSweeper } from "../deadline-sweeper.js";
import type { ConnectionLimits } from "./connection-limits.js";

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;
/** How soon a request body still arriving gets its own idle and total timers. */
const SWEEP_MS = 250;

/**
 * What the server advertises in its SETTINGS. Node's defaults advertise no stream limit at all
 * (2^32-1): one connection could hold tens of thousands of half-open streams. nghttp2 refuses
 * streams past the limit with RST_STREAM(REFUSED_STREAM), and node answers a header list over
 * the limit with RST_STREAM(ENHANCE_YOUR_CALM).
 */
export function http2Options(limits: ConnectionLimits): http2.ServerOptions {
  return { settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderListBytes } };
}

/**
 * Per connection: a preface within headers_timeout, and GOAWAY once it has been without
 * streams for connection_idle_timeout. Per stream: a request body that stops arriving
 * (stream_idle_timeout) or takes longer than request_body_timeout is reset. A stream whose
 * request is complete (a quiet Health/Watch, say) is left alone.
 */
export function guardHttp2(server: http2.Http2Server | http2.Http2SecureServer, limits: ConnectionLimits): void {
  const openStreams = new WeakMap<http2.Http2Session, number>();

  server.on("session", (session: http2.ServerHttp2Session) => {
    openStreams.set(session, 0);
    const preface = setTimeout(() => session.destroy(), limits.headersMs);
    session.once("remoteSettings", () => clearTimeout(preface));
    session.once("close", () => clearTimeout(preface));
    session.setTimeout(limits.idleMs, () => {
      if (!openStreams.get(session)) session.close();
    });
  });

  // Most request bodies end within a millisecond of their headers: they get a map entry, and
  // only a body still arriving at the next sweep gets its own timers.
  const arriving = new DeadlineSweeper(SWEEP_MS);
  server.on("stream", (stream: http2.ServerHttp2Stream, _headers: http2.IncomingHttpHeaders, flags: number) => {
    const session = stream.session;
    if (session) openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
    const cut = () => stream.close(NGHTTP2_CANCEL);
    let body: NodeJS.Timeout | undefined;
    const bodyDone = () => {
      arriving.cancel(stream);
      if (!body) return;
      clearTimeout(body);
      stream.setTimeout(0, cut);
    };
    if (!(flags & NGHTTP2_FLAG_END_STREAM)) {
      arriving.add(stream, SWEEP_MS, () => {
        if (stream.destroyed) return;
        body = setTimeout(cut, Math.max(0, limits.bodyMs - SWEEP_MS));
        stream.setTimeout(limits.streamIdleMs, cut);
      });
      stream.once("end", bodyDone);
    }
    stream.once("close", () => {
      bodyDone();
      if (session) openStreams.set(session, Math.max(0, (openStreams.get(session) ?? 1) - 1));
    });
  });
}
