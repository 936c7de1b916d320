import {
  create,
  isMessage,
  type BinaryReadOptions,
  type DescMessage,
  type DescMethod,
  type DescService,
  type JsonReadOptions,
  type JsonWriteOptions,
} from "@bufbuild/protobuf";
import { createServiceImplSpec, type ConnectRouter, type Interceptor, type ServiceImpl, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { createMethodSerializationLookup, createMethodUrl, type Compression } from "@connectrpc/connect/protocol";
import { Access } from "../../../gen/warden/options/v1/options_pb.js";
import { policyOf } from "../../policy.js";
import { structFieldDecoder } from "../struct-fields.js";
import type { FastCall } from "./fast-call.js";

/** A unary method as the fast path serves it: its limits, (de)serializers and interceptor chain, made once. */
export interface FastMethod {
  method: DescMethod;
  /** max_message_bytes, or max_public_message_bytes for public methods (as the input gate). */
  limit: number;
  serialization: ReturnType<typeof createMethodSerializationLookup>;
  /** Binary requests with a google.protobuf.Struct field are read straight into JSON. */
  binaryWithStructs: ((bytes: Uint8Array) => unknown) | undefined;
  /** The interceptors around the handler, composed once (connect-es composes them at every call). */
  invoke: (req: UnaryRequest) => Promise<UnaryResponse>;
}

export interface FastMethodOptions {
  maxMessageBytes: number;
  maxPublicMessageBytes: number;
  interceptors: Interceptor[];
  binaryOptions?: Partial<BinaryReadOptions>;
  jsonOptions?: Partial<JsonReadOptions & JsonWriteOptions>;
  acceptCompression: Compression[];
}

/**
 * The request a call's interceptors see. Its abort signal is the call's, made when first read;
 * an interceptor that spreads the request ({...req}) reads it then. `call` goes along with a
 * spread, so the handler still finds its context.
 */
export class FastRequest implements UnaryRequest {
  readonly stream = false as const;
  readonly requestMethod = "POST";
  readonly service: DescService;
  readonly method: DescMethod & { methodKind: "unary" };
  readonly header: Headers;
  readonly contextValues: FastCall["values"];

  constructor(
    readonly call: FastCall,
    readonly message: never,
  ) {
    this.method = call.method as never;
    this.service = call.method.parent;
    this.header = call.requestHeader;
    this.contextValues = call.values;
  }

  get signal(): AbortSignal {
    return this.call.signal;
  }

  get url(): string {
    return this.call.url;
  }
}

/**
 * The unary methods a router would serve, by request path. `register` is the same function that
 * registers the services on connect-es's router (routes()), given a stand-in that keeps their
 * implementations, so the two paths serve one set of handlers.
 */
export function fastMethods(register: (router: ConnectRouter) => void, opts: FastMethodOptions): Map<string, FastMethod> {
  const byPath = new Map<string, FastMethod>();
  const collector = {
    service(service: DescService, impl: ServiceImpl<DescService>) {
      const spec = createServiceImplSpec(service, impl);
      for (const method of service.methods) {
        const m = spec.methods[method.localName];
        if (!m || m.kind !== "unary") continue;
        byPath.set(createMethodUrl("/", method), fastMethod(method, m.impl as never, opts));
      }
      return collector;
    },
  };
  register(collector as unknown as ConnectRouter);
  return byPath;
}

type UnaryImpl = (message: unknown, context: FastCall) => Promise<unknown> | unknown;

function fastMethod(method: DescMethod, impl: UnaryImpl, opts: FastMethodOptions): FastMethod {
  const isPublic = policyOf(method)?.access === Access.PUBLIC;
  const limit = isPublic ? Math.min(opts.maxPublicMessageBytes, opts.maxMessageBytes) : opts.maxMessageBytes;
  const output = method.output as DescMessage;
  const handler = async (req: UnaryRequest): Promise<UnaryResponse> => {
    const call = (req as FastRequest).call;
    const out = await impl(req.message, call);
    return {
      stream: false,
      service: method.parent,
      method: method as never,
      header: call.responseHeader,
      trailer: call.responseTrailer,
      message: (isMessage(out, output) ? out : create(output, out as never)) as never,
    };
  };
  // As connect-es applies them: the first interceptor is the outermost.
  const invoke = opts.interceptors.reduceRight<(req: UnaryRequest) => Promise<UnaryResponse>>(
    (next, interceptor) => interceptor(next as never) as never,
    handler,
  );
  return {
    method,
    limit,
    serialization: createMethodSerializationLookup(method, opts.binaryOptions, opts.jsonOptions, { readMaxBytes: limit, writeMaxBytes: opts.maxMessageBytes }),
    binaryWithStructs: structFieldDecoder(method.input, opts.binaryOptions),
    invoke,
  };
}
