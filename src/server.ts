import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { App } from "./app.js";
import { hostOf, listOf, portOf } from "./config.js";
import { TrustedProxies } from "./domain/ratelimit/network.js";
import { kClientIp } from "./context.js";
import { plainRoutes } from "./http/plain-routes.js";
import { routes } from "./routes.js";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface RunningServer {
  /** The bound address, e.g. 127.0.0.1:41234. */
  address: string;
  url: string;
  tls: boolean;
  /** Stops accepting, lets in-flight calls finish (up to the grace period), then closes. */
  drain(graceMs?: number): Promise<void>;
}

/**
 * One port for gRPC, gRPC-Web and Connect. With TLS, ALPN picks HTTP/2 or HTTP/1.1; in
 * cleartext the first bytes decide: the HTTP/2 preface goes to the h2c server, anything else
 * to the HTTP/1.1 server.
 */
export async function startServer(app: App, addr = app.config.addr): Promise<RunningServer> {
  const { config, log } = app;
  let draining = false;
  const shutdown = new AbortController();
  const proxies = new TrustedProxies(listOf(config.trusted_proxies));
  const handler = connectNodeAdapter({
    routes: routes(app.handlers),
    ...app.routerOptions,
    shutdownSignal: shutdown.signal,
    contextValues: (req) => {
      const values = createContextValues();
      values.set(kClientIp, proxies.clientIp(req.socket?.remoteAddress ?? "", req.headers["x-forwarded-for"]));
      return values;
    },
  });
  const plain = plainRoutes(app, () => draining);
  const onRequest = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    plain(req, res)
      .then((handled) => {
        if (handled) return;
        // An HTTP/1.1 client is told to reconnect elsewhere; HTTP/2 clients already got GOAWAY.
        if (draining && req.httpVersionMajor === 1) res.setHeader("connection", "close");
        handler(req as never, res as never);
      })
      .catch((err) => {
        log.error({ err: { message: (err as Error).message } }, "plain route failed");
        if (!res.headersSent) (res as http.ServerResponse).writeHead(500).end();
      });
  };

  const h2Sessions = new Set<http2.Http2Session>();
  const trackSessions = (server: http2.Http2Server | http2.Http2SecureServer) =>
    server.on("session", (s: http2.Http2Session) => {
      h2Sessions.add(s);
      s.on("close", () => h2Sessions.delete(s));
    });

  let listener: NetServer;
  let http1: http.Server | undefined;
  const sockets = new Set<Socket>();
  const tls = !!config.tls_cert_file;
  if (tls) {
    const secure = http2.createSecureServer(
      {
        allowHTTP1: true,
        cert: readFileSync(config.tls_cert_file!),
        key: readFileSync(config.tls_key_file!),
        minVersion: config.min_tls_version === "TLS1.3" ? "TLSv1.3" : "TLSv1.2",
        ca: config.tls_client_ca_file ? readFileSync(config.tls_client_ca_file) : undefined,
        requestCert: !!config.tls_client_ca_file,
        rejectUnauthorized: config.require_client_cert,
      },
      onRequest,
    );
    trackSessions(secure);
    secure.on("tlsClientError", (err) => log.debug({ err: { message: err.message } }, "tls handshake failed"));
    listener = secure;
  } else {
    const h2c = http2.createServer({}, onRequest);
    trackSessions(h2c);
    http1 = http.createServer(onRequest);
    http1.keepAliveTimeout = 65_000;
    listener = createNetServer((socket) => {
      socket.once("readable", function route() {
        const head: Buffer | null = socket.read();
        if (head === null) {
          socket.once("readable", route);
          return;
        }
        socket.unshift(head);
        const isH2 =
          head.length >= 3 &&
          H2_PREFACE.subarray(0, Math.min(head.length, H2_PREFACE.length)).equals(head.subarray(0, Math.min(head.length, H2_PREFACE.length)));
        (isH2 ? h2c : http1!).emit("connection", socket);
      });
    });
  }
  listener.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(portOf(addr), hostOf(addr), () => {
      listener.off("error", reject);
      resolve();
    });
  });
  const bound = listener.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  const address = `${host}:${bound.port}`;

  return {
    address,
    url: `${tls ? "https" : "http"}://${address}`,
    tls,
    async drain(graceMs = config.shutdown_grace * 1000) {
      draining = true;
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      // GOAWAY: HTTP/2 clients open no new streams; streams in flight run to completion.
      for (const s of h2Sessions) if (!s.closed) s.close();
      http1?.closeIdleConnections();
      const deadline = setTimeout(() => {
        shutdown.abort();
        for (const s of h2Sessions) s.destroy();
        for (const s of sockets) s.destroy();
      }, graceMs);
      const idle = setInterval(() => http1?.closeIdleConnections(), 100);
      await closed;
      clearTimeout(deadline);
      clearInterval(idle);
    },
  };
}
