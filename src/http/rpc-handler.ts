import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import type { Logger } from "pino";
import type { App } from "../app.js";
import { routes } from "../routes.js";
import { FastPath, type FastPathOptions } from "./fast/fast-path.js";
import { fastMethods } from "./fast/fast-methods.js";
import { grpcWebText } from "./grpc-web-text.js";
import { inputGate, kInputError } from "./input-gate.js";
import { shutdownStatusInterceptor } from "./shutdown-status.js";

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

/**
 * Every RPC of the app as connect-es universal handlers (Connect, gRPC, gRPC-Web), each behind
 * the input gate. The node server mounts them with rpcRequestListener; tests may call them
 * directly with hand-made requests.
 */
export function rpcHandlers(app: App, shutdown = new AbortController().signal): UniversalHandler[] {
  return gatedHandlers(app, app.routerOptions, routes(app.handlers, app.services), shutdown);
}

/** The backchannel listener's handlers: its own services and interceptors, the same gate. */
export function backchannelRpcHandlers(app: App, shutdown = new AbortController().signal): UniversalHandler[] {
  if (!app.backchannel) throw new Error("the backchannel is not enabled");
  return gatedHandlers(app, app.backchannel.routerOptions, (router) => app.backchannel!.register(router), shutdown);
}

function gatedHandlers(app: App, options: ConnectRouterOptions, register: (router: ConnectRouter) => void, shutdown: AbortSignal): UniversalHandler[] {
  const acceptCompression = [compressionGzip, compressionBrotli];
  const router = createConnectRouter({
    acceptCompression,
    ...options,
    interceptors: [...(options.interceptors ?? []), shutdownStatusInterceptor(shutdown)],
    shutdownSignal: shutdown,
  });
  register(router);
  const gate = inputGate({
    maxMessageBytes: app.config.max_message_bytes,
    maxPublicMessageBytes: app.config.max_public_message_bytes,
    maxJsonDepth: app.config.max_json_depth,
    acceptCompression,
    binaryOptions: options.binaryOptions,
    jsonOptions: options.jsonOptions,
  });
  // gRPC-Web text is translated to gRPC-Web before the gate, so its limits hold for it too.
  return router.handlers.map((h) => grpcWebText(gate(h)));
}

/** What a listener gives the fast path besides the app: its shutdown, draining and per-connection context. */
export type FastPathDeps = Pick<FastPathOptions, "shutdown" | "draining" | "contextValues">;

/** The fast path for the app's unary methods (src/http/fast/), or undefined when fast_path is off. */
export function rpcFastPath(app: App, deps: FastPathDeps): FastPath | undefined {
  return fastPathFor(app, app.routerOptions, routes(app.handlers, app.services), deps);
}

/** The backchannel listener's fast path: its own services and interceptors. */
export function backchannelFastPath(app: App, deps: FastPathDeps): FastPath | undefined {
  if (!app.backchannel) throw new Error("the backchannel is not enabled");
  return fastPathFor(app, app.backchannel.routerOptions, (router) => app.backchannel!.register(router), deps);
}

function fastPathFor(app: App, options: ConnectRouterOptions, register: (router: ConnectRouter) => void, deps: FastPathDeps): FastPath | undefined {
  if (!app.config.fast_path) return undefined;
  const shared = {
    maxMessageBytes: app.config.max_message_bytes,
    maxPublicMessageBytes: app.config.max_public_message_bytes,
    // The same chain as the router's (gatedHandlers), in the same order.
    interceptors: [...(options.interceptors ?? []), shutdownStatusInterceptor(deps.shutdown)],
    binaryOptions: options.binaryOptions,
    jsonOptions: options.jsonOptions,
    acceptCompression: [compressionGzip, compressionBrotli],
  };
  return new FastPath(fastMethods(register, shared), { ...shared, ...deps, maxJsonDepth: app.config.max_json_depth, log: app.log });
}

/**
 * A node request listener for the handlers: what connectNodeAdapter does, written out so that
 * the handlers it serves are the gated ones. An unknown path answers a gRPC or gRPC-Web caller
 * UNIMPLEMENTED in its own protocol (HTTP 200 with grpc-status 12, what its client expects) and
 * anyone else 404, as Connect specifies.
 */
export function rpcRequestListener(handlers: UniversalHandler[], contextValues: (req: Req) => ContextValues, log: Logger): (req: Req, res: Res) => void {
  const byPath = new Map(handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = byPath.get((req.url ?? "").split("?", 1)[0]!);
    if (!handler) {
      unknownMethod(req, res);
      return;
    }
    let uReq;
    try {
      uReq = universalRequestFromNodeRequest(req as never, res as never, undefined, contextValues(req));
    } catch {
      // No authority (an HTTP/1.0 request without Host): nothing to route on.
      (res as http.ServerResponse).writeHead(400).end();
      return;
    }
    handler(uReq)
      .then((uRes) => {
        // An HTTP/1.1 body refused before it was all read is not drained: the connection closes.
        if (req.httpVersionMajor === 1 && !(req as http.IncomingMessage).complete && uReq.contextValues?.get(kInputError)) res.setHeader("connection", "close");
        return universalResponseToNodeResponse(uRes, res as never);
      })
      .catch((err) => {
        // A client that went away mid-response aborts the call: nothing to answer, nothing to report.
        if (ConnectError.from(err).code === Code.Aborted) return;
        log.error({ method: `${handler.service.typeName}/${handler.method.name}`, err: { message: (err as Error)?.message } }, "rpc handler failed");
        if (!res.headersSent) (res as http.ServerResponse).writeHead(500).end();
      });
  };
}

function unknownMethod(req: Req, res: Res): void {
  const contentType = String(req.headers["content-type"] ?? "");
  if (!/^application\/grpc(-web(-text)?)?([+;]|$)/i.test(contentType)) {
    (res as http.ServerResponse).writeHead(404).end();
    return;
  }
  const headers = {
    "content-type": contentType.split(";", 1)[0]!,
    "grpc-status": String(Code.Unimplemented),
    "grpc-message": encodeURIComponent(`unknown method ${(req.url ?? "").split("?", 1)[0]}`),
  };
  // Over HTTP/2 one HEADERS frame that ends the stream ("trailers-only" in gRPC's terms): a
  // client reading headers and then an empty body without trailers calls it INTERNAL.
  const stream = (res as http2.Http2ServerResponse).stream;
  // Headers already set on the response (CORS, say) go with it.
  if (stream) stream.respond({ ...(res as http2.Http2ServerResponse).getHeaders(), ":status": 200, ...headers }, { endStream: true });
  else (res as http.ServerResponse).writeHead(200, headers).end();
}
