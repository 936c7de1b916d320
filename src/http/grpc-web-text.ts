import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { parseContentType } from "@connectrpc/connect/protocol-grpc-web";
import { DomainError } from "../domain/errors.js";

/**
 * gRPC-Web text: `application/grpc-web-text[+proto|+json]` is the gRPC-Web framing in base64,
 * the default of Google's grpc-web runtime (browsers without binary XHR streaming). connect-es
 * answers it 415, so each handler is wrapped to translate: the request body is decoded on its
 * way in and handed on as plain gRPC-Web, so the handler, and the input gate with its read
 * limits, see what a binary client would have sent; the response body (data frames, then the
 * trailer frame) is encoded on its way out. Unary and server-streaming methods only (what the
 * browser runtimes call); other requests pass untouched.
 */
export function grpcWebText(handler: UniversalHandler): UniversalHandler {
  // A browser client sends one request message; streaming requests stay with connect-es (415).
  const kind = handler.method.methodKind;
  if (kind === "client_streaming" || kind === "bidi_streaming") return handler;
  const translated = async (req: UniversalServerRequest): Promise<UniversalServerResponse> => {
    const type = parseContentType(req.header.get("content-type"));
    if (!type?.text || !isByteStream(req.body)) return handler(req);
    const header = new Headers(req.header);
    header.set("content-type", type.binary ? "application/grpc-web+proto" : "application/grpc-web+json");
    // The declared length is of the base64; the gate counts the decoded bytes as it reads them.
    header.delete("content-length");
    const res = await handler({ ...req, header, body: decodeBase64(req.body) });
    return encodeResponse(res);
  };
  return Object.assign(translated, {
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    supportedContentType: handler.supportedContentType,
    protocolNames: handler.protocolNames,
    allowedMethods: handler.allowedMethods,
  });
}

/** A gRPC-Web answer as gRPC-Web text: the same type with -text, each body chunk in base64. */
function encodeResponse(res: UniversalServerResponse): UniversalServerResponse {
  const header = new Headers(res.header);
  const type = header.get("content-type");
  const binary = parseContentType(type);
  if (!binary || binary.text) return res;
  header.set("content-type", binary.binary ? "application/grpc-web-text+proto" : "application/grpc-web-text+json");
  header.delete("content-length");
  return { ...res, header, body: res.body && encodeBase64(res.body) };
}

/**
 * Each chunk is encoded on its own, padding included, and sent as it comes: a streamed message
 * is not held back waiting for the bytes of the next. Concatenated padded segments are what the
 * gRPC-Web protocol (PROTOCOL-WEB.md) requires clients to read.
 */
async function* encodeBase64(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  for await (const chunk of body) if (chunk.byteLength > 0) yield Buffer.from(Buffer.from(chunk).toString("base64"), "latin1");
}

const WHITESPACE = /[\t\n\f\r ]+/g;
/** Whole 4-character quanta, each full or padded: a padded one ends a segment, another may follow. */
const QUANTA = /^(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)*$/;
/** Between a padded quantum and the next segment. */
const SEGMENT_END = /(?<==)(?=[^=])/;

/**
 * The request body, decoded as it arrives: chunks may split anywhere, and the body may be several
 * base64 segments each with its padding (a client that encodes each frame); ASCII whitespace is
 * ignored. Anything else is refused with INVALID_ARGUMENT, which the gate reports like any other
 * undecodable request. Memory stays bounded: at most three characters wait for the next chunk.
 */
export async function* decodeBase64(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let pending = "";
  for await (const chunk of body) {
    const text = pending + Buffer.from(chunk).toString("latin1").replace(WHITESPACE, "");
    const whole = text.length - (text.length % 4);
    pending = text.slice(whole);
    if (whole > 0) yield decodeQuanta(text.slice(0, whole));
  }
  // An unpadded last segment (some encoders drop the padding) is read as if it were padded.
  if (pending.length === 1 || !/^[A-Za-z0-9+/]*$/.test(pending)) throw notBase64();
  if (pending.length > 0) yield Buffer.from(pending, "base64");
}

function decodeQuanta(text: string): Uint8Array {
  if (!QUANTA.test(text)) throw notBase64();
  // Buffer stops decoding at the first padding, so each segment is decoded apart.
  if (!text.includes("=") || text.indexOf("=") >= text.length - 2) return Buffer.from(text, "base64");
  return Buffer.concat(text.split(SEGMENT_END).map((segment) => Buffer.from(segment, "base64")));
}

function notBase64(): DomainError {
  return new DomainError("invalid_argument", "INVALID_ARGUMENT", "the application/grpc-web-text request body is not base64");
}

function isByteStream(body: UniversalServerRequest["body"]): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}
