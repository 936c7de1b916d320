import { Code, ConnectError } from "@connectrpc/connect";
import { compressionNegotiate, createAsyncIterable, encodeEnvelope, envelopeDecompress, type Compression } from "@connectrpc/connect/protocol";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import { parseContentType as parseConnect } from "@connectrpc/connect/protocol-connect";
import { parseContentType as parseGrpc } from "@connectrpc/connect/protocol-grpc";
import { parseContentType as parseGrpcWeb } from "@connectrpc/connect/protocol-grpc-web";

/**
 * How a request carries its message, read from its content type the way connect-es picks a
 * protocol: a Connect unary body is the message itself, every other protocol wraps messages in
 * 5-byte envelopes.
 */
export interface Framing {
  enveloped: boolean;
  binary: boolean;
  /** The request header naming the body's compression, and the one listing what the client reads. */
  encodingHeader: string;
  acceptEncodingHeader: string;
}

export function framingOf(req: UniversalServerRequest, streamingMethod: boolean): Framing | undefined {
  if (req.method !== "POST") return undefined;
  const type = req.header.get("content-type");
  const connect = parseConnect(type);
  if (connect) {
    if (connect.stream !== streamingMethod) return undefined;
    const prefix = connect.stream ? "connect-" : "";
    return { enveloped: connect.stream, binary: connect.binary, encodingHeader: `${prefix}content-encoding`, acceptEncodingHeader: `${prefix}accept-encoding` };
  }
  const grpc = parseGrpc(type) ?? parseGrpcWeb(type);
  if (grpc && !("text" in grpc && grpc.text))
    return { enveloped: true, binary: grpc.binary, encodingHeader: "grpc-encoding", acceptEncodingHeader: "grpc-accept-encoding" };
  return undefined;
}

/** The message of a request that carries exactly one, after its framing and compression. */
export interface RequestMessage {
  /** The body as received, to be handed on unchanged. */
  raw: Uint8Array;
  /** The message bytes, decompressed. */
  message: Uint8Array;
}

/** Raised when a request is larger than the limit; the message says "" or " once decompressed". */
export class TooLarge extends Error {}

/**
 * Reads the body of a single-message request, refusing more than `limit` message bytes (the
 * declared content-length, the bytes on the wire, the envelope and the decompressed message).
 */
export async function readRequestMessage(req: UniversalServerRequest, framing: Framing, limit: number, accept: Compression[]): Promise<RequestMessage> {
  const compression = compressionNegotiate(accept, req.header.get(framing.encodingHeader), null, framing.acceptEncodingHeader);
  if (compression.error) throw compression.error;
  const raw = await readAll(req, framing.enveloped ? limit + 5 : limit);
  return { raw, message: await unwrapRequestMessage(raw, framing.enveloped, limit, compression.request) };
}

/**
 * The message of a whole request body: the body itself (Connect unary) or its one envelope,
 * decompressed, held to `limit` bytes before and after decompression.
 */
export async function unwrapRequestMessage(raw: Uint8Array, enveloped: boolean, limit: number, compression: Compression | null): Promise<Uint8Array> {
  if (!enveloped) {
    if (raw.byteLength > limit) throw new TooLarge("");
    return compression ? await decompress(compression, raw, limit) : raw;
  }
  if (raw.length < 5) throw new ConnectError("the request carries no complete message envelope", Code.InvalidArgument);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const flags = view.getUint8(0);
  const length = view.getUint32(1);
  if (length > limit) throw new TooLarge("");
  if (5 + length !== raw.length) throw new ConnectError("the request must carry exactly one complete message", Code.InvalidArgument);
  if (flags & ~1) throw new ConnectError(`unexpected envelope flags ${flags}`, Code.InvalidArgument);
  if (flags === 0) return raw.subarray(5);
  const env = await envelopeDecompress({ flags, data: raw.subarray(5) }, compression, limit).catch(tooLargeOr);
  return env.data;
}

/** The body a refused request is handed on with: one empty message (binary) or {} (JSON), uncompressed. */
export function emptyRequest(req: UniversalServerRequest, framing: Framing): UniversalServerRequest {
  const header = new Headers(req.header);
  header.delete(framing.encodingHeader);
  header.delete("content-length");
  const message = framing.binary ? new Uint8Array(0) : new TextEncoder().encode("{}");
  return { ...req, header, body: createAsyncIterable([framing.enveloped ? encodeEnvelope(0, message) : message]) };
}

/** The same request with its body replayed from what was read. */
export function replayed(req: UniversalServerRequest, raw: Uint8Array): UniversalServerRequest {
  return { ...req, body: createAsyncIterable([raw]) };
}

async function readAll(req: UniversalServerRequest, cap: number): Promise<Uint8Array> {
  const declared = Number(req.header.get("content-length") ?? NaN);
  if (declared > cap) throw new TooLarge("");
  const body = req.body;
  if (!body || typeof body !== "object" || !(Symbol.asyncIterator in body)) throw new ConnectError("the request body is not a byte stream", Code.Internal);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > cap) throw new TooLarge("");
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function decompress(compression: Compression, bytes: Uint8Array, limit: number): Promise<Uint8Array> {
  return compression.decompress(bytes, limit).catch(tooLargeOr);
}

/** connect-es's decompressors say RESOURCE_EXHAUSTED for a message that inflates past the limit. */
function tooLargeOr(err: unknown): never {
  if (err instanceof ConnectError && err.code === Code.ResourceExhausted) throw new TooLarge(" once decompressed");
  throw err;
}
