import { Code, ConnectError } from "@connectrpc/connect";
import { compressionNegotiate, encodeEnvelope, envelopeCompress, type Compression } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorToJsonBytes,
  parseContentType as parseConnect,
  parseTimeout as parseConnectTimeout,
} from "@connectrpc/connect/protocol-connect";
import { parseContentType as parseGrpc, parseTimeout as parseGrpcTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { parseContentType as parseGrpcWeb, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import type { JsonWriteOptions } from "@bufbuild/protobuf";
import type { LightHeaders } from "./light-headers.js";

/** connect-es's default: smaller messages are not worth compressing. */
export const COMPRESS_MIN_BYTES = 1024;

/**
 * How one unary request is framed and answered, from its content type, as connect-es decides:
 * gRPC (HTTP/2 only), gRPC-Web (binary; the text variant is left to connect-node) and Connect
 * unary, each in protobuf or JSON.
 */
export interface Wire {
  protocol: "grpc" | "grpc_web" | "connect";
  binary: boolean;
  /** Every protocol but Connect unary wraps the message in a 5-byte envelope. */
  enveloped: boolean;
  responseContentType: string;
  /** The headers naming the request's compression, and what the client reads back. */
  encodingHeader: string;
  acceptEncodingHeader: string;
}

const WIRES = new Map<string, Wire | null>();

export function wireOf(contentType: string | undefined, http2: boolean): Wire | undefined {
  if (!contentType) return undefined;
  let wire = WIRES.get(contentType);
  if (wire === undefined) {
    wire = parseWire(contentType) ?? null;
    // Content types are few; a client inventing new ones each call must not grow this forever.
    if (WIRES.size < 256) WIRES.set(contentType, wire);
  }
  if (!wire || (wire.protocol === "grpc" && !http2)) return undefined;
  return wire;
}

function parseWire(contentType: string): Wire | undefined {
  const connect = parseConnect(contentType);
  if (connect) {
    if (connect.stream) return undefined;
    return {
      protocol: "connect",
      binary: connect.binary,
      enveloped: false,
      responseContentType: connect.binary ? "application/proto" : "application/json",
      encodingHeader: "content-encoding",
      acceptEncodingHeader: "accept-encoding",
    };
  }
  const grpc = parseGrpc(contentType);
  if (grpc) return enveloped("grpc", grpc.binary, grpc.binary ? "application/grpc+proto" : "application/grpc+json");
  const web = parseGrpcWeb(contentType);
  if (web && !web.text) return enveloped("grpc_web", web.binary, web.binary ? "application/grpc-web+proto" : "application/grpc-web+json");
  return undefined;
}

function enveloped(protocol: "grpc" | "grpc_web", binary: boolean, responseContentType: string): Wire {
  return { protocol, binary, enveloped: true, responseContentType, encodingHeader: "grpc-encoding", acceptEncodingHeader: "grpc-accept-encoding" };
}

const NO_DEADLINE = { timeoutMs: undefined };

/** The call's deadline in ms, none, or undefined when the header is malformed (connect-node answers that). */
export function deadlineOf(wire: Wire, header: Pick<Headers, "get">): { timeoutMs: number | undefined } | undefined {
  const value = header.get(wire.protocol === "connect" ? "connect-timeout-ms" : "grpc-timeout");
  if (value === null) return NO_DEADLINE;
  const parsed = wire.protocol === "connect" ? parseConnectTimeout(value, Number.MAX_SAFE_INTEGER) : parseGrpcTimeout(value, Number.MAX_SAFE_INTEGER);
  return parsed.error ? undefined : { timeoutMs: parsed.timeoutMs };
}

export interface Negotiated {
  request: Compression | null;
  response: Compression | null;
}

/** The compressions of the call, or undefined when the client's cannot be read (connect-node answers that). */
export function compressionOf(wire: Wire, accept: Compression[], header: Pick<Headers, "get">): Negotiated | undefined {
  const accepted = header.get(wire.acceptEncodingHeader);
  const c = compressionNegotiate(accept, header.get(wire.encodingHeader), accepted, wire.acceptEncodingHeader);
  if (c.error) return undefined;
  // Without an accept header connect-es would answer in the request's encoding, but connect-node
  // never does here: the input gate hands connect-es the request without its encoding header
  // (emptyRequest in request-message.ts), so a compressed request gets a plain answer. Same here.
  return { request: c.request, response: accepted === null || accepted === "" ? null : c.response };
}

/** What goes back: a status, headers, the body, and HTTP trailers (gRPC only). */
export interface WireResponse {
  status: number;
  header: Record<string, string | string[]>;
  body: Uint8Array;
  trailer?: Record<string, string | string[]>;
}

/** A successful call's answer in its protocol. `message` is the serialized response message. */
export async function successResponse(
  wire: Wire,
  compression: Negotiated,
  message: Uint8Array,
  header: LightHeaders,
  trailer: LightHeaders,
): Promise<WireResponse> {
  if (wire.protocol === "connect") {
    let body = message;
    if (compression.response && body.byteLength >= COMPRESS_MIN_BYTES) {
      body = await compression.response.compress(body);
      header.set("content-encoding", compression.response.name);
    }
    return connectResponse(200, header, trailer, body);
  }
  if (compression.response) header.set("grpc-encoding", compression.response.name);
  trailer.set("grpc-status", "0");
  return envelopedResponse(wire, compression, header, trailer, message);
}

/** A failed call's answer in its protocol, as connect-es encodes errors. */
export async function errorResponse(
  wire: Wire,
  compression: Negotiated,
  error: ConnectError,
  header: LightHeaders,
  trailer: LightHeaders,
  jsonOptions?: Partial<JsonWriteOptions>,
): Promise<WireResponse> {
  if (wire.protocol === "connect") {
    header.set("content-type", "application/json");
    error.metadata.forEach((value, key) => header.set(key, value));
    let body: Uint8Array = errorToJsonBytes(error, jsonOptions ?? {});
    if (compression.response && body.byteLength >= COMPRESS_MIN_BYTES) {
      body = await compression.response.compress(body);
      header.set("content-encoding", compression.response.name);
    }
    return connectResponse(codeToHttpStatus(error.code), header, trailer, body);
  }
  if (compression.response) header.set("grpc-encoding", compression.response.name);
  setTrailerStatus(trailer as unknown as Headers, error);
  return envelopedResponse(wire, compression, header, trailer, undefined);
}

/** Anything but a ConnectError is an internal error, as connect-es says. */
export function asConnectError(err: unknown): ConnectError {
  return err instanceof ConnectError ? err : new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

function connectResponse(status: number, header: LightHeaders, trailer: LightHeaders, body: Uint8Array): WireResponse {
  const node = header.toNode();
  trailer.forEach((value, key) => {
    const name = `trailer-${key}`;
    const had = node[name];
    node[name] = had === undefined ? value : `${had as string}, ${value}`;
  });
  node["content-length"] = String(body.byteLength);
  return { status, header: node, body };
}

async function envelopedResponse(
  wire: Wire,
  compression: Negotiated,
  header: LightHeaders,
  trailer: LightHeaders,
  message: Uint8Array | undefined,
): Promise<WireResponse> {
  const parts: Uint8Array[] = [];
  if (message) parts.push(await envelope(0, message, compression.response));
  if (wire.protocol === "grpc") return { status: 200, header: header.toNode(), body: join(parts), trailer: trailer.toNode() };
  // gRPC-Web: the trailers are the body's last envelope (flag 0x80).
  parts.push(await envelope(0x80, trailerSerialize(trailer as unknown as Headers), compression.response));
  return { status: 200, header: header.toNode(), body: join(parts) };
}

async function envelope(flags: number, data: Uint8Array, compression: Compression | null): Promise<Uint8Array> {
  const env = compression ? await envelopeCompress({ flags, data }, compression, COMPRESS_MIN_BYTES) : { flags, data };
  return encodeEnvelope(env.flags, env.data);
}

function join(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
