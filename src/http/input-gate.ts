import type { BinaryReadOptions, JsonReadOptions } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, createContextValues, type Interceptor } from "@connectrpc/connect";
import { createMethodSerializationLookup, type Compression, type UniversalHandler } from "@connectrpc/connect/protocol";
import { Access } from "../../gen/warden/options/v1/options_pb.js";
import { DomainError } from "../domain/errors.js";
import { policyOf } from "../policy.js";
import { nestsDeeperThan } from "./json-depth.js";
import { structFieldDecoder } from "./struct-fields.js";
import { emptyRequest, framingOf, readRequestMessage, replayed, TooLarge } from "./request-message.js";

/**
 * Why the input gate: connect-es reads and decodes a request before any interceptor runs, so a
 * body it refuses (too large, not protobuf, not JSON) was answered without a log line, a metric
 * or an ErrorInfo, and undecodable protobuf was called `internal`. It also has one read limit for
 * every method, and hands JSON to JSON.parse whatever its nesting. Its serialization options
 * offer no hook for any of this, so the gate wraps each of its handlers instead:
 *
 * - it reads the request's one message as connect-es would (same framing, compression and
 *   decoder), with the method's limit: max_public_message_bytes for ACCESS_PUBLIC methods;
 * - it refuses JSON nested deeper than max_json_depth before anything parses it;
 * - binary requests with a google.protobuf.Struct field read it straight into JSON
 *   (`struct-fields.ts`), skipping protobuf-es's message per Value;
 * - an accepted unary request goes on to connect-es with an empty body and the message the gate
 *   decoded in the context, which `inputErrorInterceptor` puts in its place: a message is
 *   decoded once, not twice (a 1,000-event telemetry batch spends about 15 ms in the decoder);
 *   a server-streaming request goes on with its body replayed, unchanged;
 * - a refused one goes on with an empty message and its refusal in the context, which
 *   `inputErrorInterceptor` (just inside request-log, metrics and errors) throws: it is logged,
 *   counted and answered like any other error, in the caller's protocol.
 *
 * Client- and bidi-streaming methods (StreamSessionRecording, RegisterUsingIAMMethod) decode
 * each message inside the interceptor chain already and are left to connect-es, whose read
 * limit (max_message_bytes) applies to each message.
 */

/** The refusal of a request's input, set by the gate and thrown by inputErrorInterceptor. */
export const kInputError = createContextKey<Error | undefined>(undefined, { description: "request input refused by the gate" });

/** The unary request's message as the gate decoded it; inputErrorInterceptor hands it on. */
export const kDecodedInput = createContextKey<unknown>(undefined, { description: "request message decoded by the gate" });

/**
 * Throws the gate's refusal, if any, inside the interceptor chain, and otherwise gives the call
 * the message the gate decoded. Place it right after the errors interceptor, in every router
 * whose handlers the gate wraps (without it, unary handlers would see empty messages).
 */
export function inputErrorInterceptor(): Interceptor {
  return (next) => (req) => {
    const refused = req.contextValues.get(kInputError);
    if (refused) return Promise.reject(refused);
    const decoded = req.contextValues.get(kDecodedInput);
    if (decoded !== undefined && !req.stream) return next({ ...req, message: decoded as typeof req.message });
    return next(req);
  };
}

export interface InputGateOptions {
  maxMessageBytes: number;
  maxPublicMessageBytes: number;
  maxJsonDepth: number;
  acceptCompression: Compression[];
  binaryOptions?: Partial<BinaryReadOptions>;
  jsonOptions?: Partial<JsonReadOptions>;
}

export function inputGate(opts: InputGateOptions): (handler: UniversalHandler) => UniversalHandler {
  return (handler) => {
    const kind = handler.method.methodKind;
    if (kind === "client_streaming" || kind === "bidi_streaming") return handler;
    const isPublic = policyOf(handler.method)?.access === Access.PUBLIC;
    const limit = isPublic ? Math.min(opts.maxPublicMessageBytes, opts.maxMessageBytes) : opts.maxMessageBytes;
    const decoders = createMethodSerializationLookup(handler.method, opts.binaryOptions, opts.jsonOptions, { readMaxBytes: limit, writeMaxBytes: limit });
    const binaryWithStructs = structFieldDecoder(handler.method.input, opts.binaryOptions);

    const gated = async (req: Parameters<UniversalHandler>[0]) => {
      const framing = framingOf(req, kind === "server_streaming");
      // Not a request this gate reads (wrong method or content type): connect-es answers it.
      if (!framing) return handler(req);
      let raw: Uint8Array;
      let message: unknown;
      try {
        const read = await readRequestMessage(req, framing, limit, opts.acceptCompression);
        if (!framing.binary && nestsDeeperThan(read.message, opts.maxJsonDepth))
          throw new DomainError("invalid_argument", "INVALID_ARGUMENT", `the request JSON nests deeper than ${opts.maxJsonDepth} levels`);
        message = framing.binary && binaryWithStructs ? binaryWithStructs(read.message) : decoders.getI(framing.binary).parse(read.message);
        raw = read.raw;
      } catch (err) {
        const contextValues = req.contextValues ?? createContextValues();
        contextValues.set(kInputError, refusal(err, limit));
        return handler({ ...emptyRequest(req, framing), contextValues });
      }
      if (kind !== "unary") return handler(replayed(req, raw));
      const contextValues = req.contextValues ?? createContextValues();
      contextValues.set(kDecodedInput, message);
      return handler({ ...emptyRequest(req, framing), contextValues });
    };
    return Object.assign(gated, {
      service: handler.service,
      method: handler.method,
      requestPath: handler.requestPath,
      supportedContentType: handler.supportedContentType,
      protocolNames: handler.protocolNames,
      allowedMethods: handler.allowedMethods,
    });
  };
}

/** The error the caller gets: too large, not a message of the method's type, or a compression it cannot read. */
export function refusal(err: unknown, limit: number): Error {
  if (err instanceof DomainError) return err;
  if (err instanceof TooLarge) return new DomainError("resource_exhausted", "MESSAGE_TOO_LARGE", `the request is larger than ${limit} bytes${err.message}`);
  // An unknown content-encoding: connect-es's own answer (UNIMPLEMENTED, naming the encodings it reads).
  if (err instanceof ConnectError && err.code === Code.Unimplemented) return err;
  const detail = err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
  return new DomainError("invalid_argument", "INVALID_ARGUMENT", `cannot decode the request: ${detail}`);
}
