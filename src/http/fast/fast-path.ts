import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { Socket } from "node:net";
import { create } from "@bufbuild/protobuf";
import type { ContextValues } from "@connectrpc/connect";
import type { Logger } from "pino";
import { DomainError } from "../../domain/errors.js";
import { kInputError, refusal } from "../input-gate.js";
import { nestsDeeperThan } from "../json-depth.js";
import { TooLarge, unwrapRequestMessage } from "../request-message.js";
import { FastCall } from "./fast-call.js";
import { FastRequest, type FastMethod, type FastMethodOptions } from "./fast-methods.js";
import { NodeRequestHeaders } from "./light-headers.js";
import { asConnectError, compressionOf, deadlineOf, errorResponse, successResponse, wireOf, type Negotiated, type Wire, type WireResponse } from "./wire.js";

export interface FastPathOptions extends FastMethodOptions {
  maxJsonDepth: number;
  shutdown: AbortSignal;
  /** While the server drains, every call takes the full path (it closes HTTP/1.1 connections). */
  draining: () => boolean;
  /** The call's context values (client address, peer certificate), from its connection. */
  contextValues: (socket: Socket, forwardedFor: string | string[] | undefined) => ContextValues;
  log: Logger;
}

/** A request body, or the fact that it was too large (nothing more of it is kept then). */
type Body = Uint8Array | TooLarge;

/**
 * Unary calls served straight from node's HTTP/2 streams and HTTP/1.1 requests, with the same
 * handlers, interceptors, limits and encodings as connect-node (src/http/rpc-handler.ts), at a
 * fraction of its cost per call. A request is taken here only when everything it needs is read
 * from its headers alone (method, path, content type, deadline, compression); anything else
 * (streams, GET, gRPC-Web text, browsers with an Origin, malformed deadlines or unknown
 * encodings, a draining server) goes on to connect-node untouched, body unread.
 */
export class FastPath {
  constructor(
    private readonly methods: Map<string, FastMethod>,
    private readonly opts: FastPathOptions,
  ) {}

  /** Serves an HTTP/2 stream, or returns false when connect-node must. */
  tryStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean {
    if (headers[":method"] !== "POST" || headers.origin !== undefined) return false;
    const entry = this.methods.get(headers[":path"] ?? "");
    if (!entry) return false;
    const start = this.admit(entry, headers, true);
    if (!start) return false;
    const socket = stream.session?.socket;
    if (!socket) return false;
    const origin = { secure: "encrypted" in socket, authority: headers[":authority"], path: headers[":path"]! };
    const call = new FastCall(
      entry.method,
      start.header,
      this.opts.contextValues(socket, headers["x-forwarded-for"]),
      origin,
      start.wire.protocol,
      start.wire.responseContentType,
      this.opts.shutdown,
      start.timeoutMs,
    );
    stream.on("error", ignore);
    // Reset by the client before the answer went out. (Shared listeners: no closure per call.)
    (stream as CallStream)[kCall] = call;
    stream.on("aborted", abortCall);
    const body = readBody(stream, start.cap, headers["content-length"]);
    this.run(entry, start, call, body)
      .then((res) => respondStream(stream, res))
      .catch((err: unknown) => this.failed(entry, err, () => stream.close(0x2 /* INTERNAL_ERROR */)));
    return true;
  }

  /** Serves an HTTP/1.1 request, or returns false when connect-node must. */
  tryHttp1(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (req.method !== "POST" || req.headers.origin !== undefined) return false;
    const entry = this.methods.get(req.url ?? "");
    if (!entry) return false;
    const start = this.admit(entry, req.headers, false);
    if (!start) return false;
    const socket = req.socket;
    const origin = { secure: "encrypted" in socket, authority: req.headers.host, path: req.url! };
    const call = new FastCall(
      entry.method,
      start.header,
      this.opts.contextValues(socket, req.headers["x-forwarded-for"]),
      origin,
      start.wire.protocol,
      start.wire.responseContentType,
      this.opts.shutdown,
      start.timeoutMs,
    );
    res.once("close", () => {
      if (!res.writableFinished) call.abort();
    });
    const body = readBody(req, start.cap, req.headers["content-length"]);
    this.run(entry, start, call, body)
      .then((answer) => {
        // A body refused before it was all read is not drained: the connection closes.
        if (!req.complete) answer.header.connection = "close";
        res.writeHead(answer.status, answer.header);
        res.end(answer.body);
      })
      .catch((err: unknown) => this.failed(entry, err, () => (res.headersSent ? res.destroy() : res.writeHead(500).end())));
    return true;
  }

  /** What the headers decide: protocol, deadline, compression, or undefined to leave the call to connect-node. */
  private admit(entry: FastMethod, raw: http.IncomingHttpHeaders, http2: boolean): Start | undefined {
    if (this.opts.draining()) return undefined;
    const wire = wireOf(raw["content-type"], http2);
    if (!wire) return undefined;
    const header = new NodeRequestHeaders(raw);
    const deadline = deadlineOf(wire, header);
    if (!deadline) return undefined;
    const compression = compressionOf(wire, this.opts.acceptCompression, header);
    if (!compression) return undefined;
    return { wire, header, compression, timeoutMs: deadline.timeoutMs, cap: wire.enveloped ? entry.limit + 5 : entry.limit };
  }

  private async run(entry: FastMethod, start: Start, call: FastCall, body: Promise<Body>): Promise<WireResponse> {
    const { wire, compression } = start;
    try {
      const message = await this.decode(entry, wire, compression, call, await body);
      const res = await entry.invoke(new FastRequest(call, message as never));
      replaceWith(call.responseHeader, res.header);
      replaceWith(call.responseTrailer, res.trailer);
      const bytes = entry.serialization.getO(wire.binary).serialize(res.message);
      return await successResponse(wire, compression, bytes, call.responseHeader, call.responseTrailer);
    } catch (err) {
      return errorResponse(wire, compression, asConnectError(err), call.responseHeader, call.responseTrailer, this.opts.jsonOptions);
    } finally {
      call.release();
    }
  }

  /**
   * The request message, as the input gate reads it; a refused one becomes the method's empty
   * message with the refusal in the context, which inputErrorInterceptor throws in the chain.
   */
  private async decode(entry: FastMethod, wire: Wire, compression: Negotiated, call: FastCall, body: Body): Promise<unknown> {
    try {
      if (body instanceof TooLarge) throw body;
      const bytes = await unwrapRequestMessage(body, wire.enveloped, entry.limit, compression.request);
      if (!wire.binary && nestsDeeperThan(bytes, this.opts.maxJsonDepth))
        throw new DomainError("invalid_argument", "INVALID_ARGUMENT", `the request JSON nests deeper than ${this.opts.maxJsonDepth} levels`);
      if (wire.binary && entry.binaryWithStructs) return entry.binaryWithStructs(bytes);
      return entry.serialization.getI(wire.binary).parse(bytes);
    } catch (err) {
      call.values.set(kInputError, refusal(err, entry.limit));
      return create(entry.method.input);
    }
  }

  private failed(entry: FastMethod, err: unknown, reset: () => void): void {
    this.opts.log.error({ method: `${entry.method.parent.typeName}/${entry.method.name}`, err: { message: (err as Error)?.message } }, "rpc handler failed");
    try {
      reset();
    } catch {
      // The stream or socket is gone already.
    }
  }
}

interface Start {
  wire: Wire;
  header: NodeRequestHeaders;
  compression: Negotiated;
  timeoutMs: number | undefined;
  /** The most body bytes read: the method's limit, plus the envelope's 5. */
  cap: number;
}

/** Reads the whole body, or stops at `cap` bytes (the rest is left unread, as the input gate leaves it). */
function readBody(source: NodeJS.ReadableStream & { readableEnded?: boolean }, cap: number, contentLength: string | undefined): Promise<Body> {
  if (contentLength !== undefined && Number(contentLength) > cap) return Promise.resolve(new TooLarge(""));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > cap) {
        source.off("data", onData);
        source.off("end", onEnd);
        source.pause();
        resolve(new TooLarge(""));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    source.on("data", onData);
    source.once("end", onEnd);
  });
}

function respondStream(stream: http2.ServerHttp2Stream, res: WireResponse): void {
  if (stream.destroyed || stream.closed) return;
  const headers = res.header as http2.OutgoingHttpHeaders;
  headers[":status"] = res.status;
  const trailer = res.trailer;
  stream.respond(headers, { waitForTrailers: trailer !== undefined });
  if (trailer) {
    (stream as CallStream)[kTrailers] = trailer;
    stream.on("wantTrailers", sendTrailers);
  }
  stream.end(res.body);
}

const kCall = Symbol("fast call");
const kTrailers = Symbol("trailers to send");
type CallStream = http2.ServerHttp2Stream & { [kCall]?: FastCall; [kTrailers]?: http2.OutgoingHttpHeaders };

function abortCall(this: CallStream): void {
  this[kCall]?.abort();
}

function sendTrailers(this: CallStream): void {
  const trailer = this[kTrailers];
  if (trailer) this.sendTrailers(trailer);
}

/** connect-es copies the response's headers over the context's when an interceptor replaced them. */
function replaceWith(target: Headers, source: Headers): void {
  if (source === target) return;
  for (const key of [...target.keys()]) target.delete(key);
  source.forEach((value, key) => target.set(key, value));
}

function ignore(): void {}
