import type * as http2 from "node:http2";

type StreamListener = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

/**
 * Lets `first` take an HTTP/2 stream before node's compatibility layer makes it a request and
 * response. Node adds that layer as a "stream" listener when a "request" listener is set; here
 * that listener (and any other present now) runs only for the streams `first` declines. Call it
 * right after creating the server, before other "stream" listeners (guards) are added: those
 * keep seeing every stream.
 */
export function serveStreamsFirst(
  server: http2.Http2Server | http2.Http2SecureServer,
  first: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean,
): void {
  const rest = server.listeners("stream") as StreamListener[];
  for (const l of rest) server.off("stream", l);
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    if (first(stream, headers)) return;
    for (const l of rest) l.call(server, stream, headers, flags, rawHeaders);
  });
}
