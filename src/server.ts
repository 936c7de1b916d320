import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo, Server as NetServer, Socket } from "node:net";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { createContextValues } from "@connectrpc/connect";
import type { App } from "./app.js";
import { hostOf, listOf, portOf } from "./config.js";
import { TrustedProxies } from "./domain/ratelimit/network.js";
import { kClientIp, kPeerCertificate } from "./context.js";
import { peerCertificateOf } from "./http/peer-certificate.js";
import { isIP } from "node:net";
import { cleartextListener } from "./http/cleartext-listener.js";
import { connectionLimits } from "./http/connection-limits.js";
import { corsPolicy } from "./http/cors.js";
import { applyHttp1Timeouts, startHttp1Timeouts } from "./http/http1-timeouts.js";
import { admitTlsHttp2, Http2Admission } from "./http/http2-admission.js";
import { guardHttp2, http2Options } from "./http/http2-guards.js";
import { plainRoutes } from "./http/plain-routes.js";
import type { FastPath } from "./http/fast/fast-path.js";
import { serveStreamsFirst } from "./http/fast/http2-streams.js";
import { backchannelFastPath, backchannelRpcHandlers, rpcFastPath, rpcHandlers, rpcRequestListener, type FastPathDeps } from "./http/rpc-handler.js";
import { shuttingDown } from "./http/shutdown-status.js";
import { throttledWarning } from "./http/throttled-warning.js";

/** After the grace period, how long calls that were told to stop have to send their last status. */
const FINAL_STATUS_MS = 1000;
/** The auto TLS certificate: its validity, when it is renewed (days left), and how often that is checked. */
const AUTO_TLS_DAYS = 90;
const AUTO_TLS_RENEW_DAYS = 30;
const AUTO_TLS_CHECK_MS = 6 * 3600_000;

/**
 * The auto TLS mode's certificate, from the cluster's X.509 CA: for the tls_auto_names, the
 * listening address when it is an IP, and loopback; renewed when 30 of its 90 days are left.
 */
async function autoCertificate(app: App, addr: string): Promise<Pick<ListenerTls, "cert" | "key" | "renew">> {
  const host = hostOf(addr).replace(/^\[|\]$/g, "");
  const ips = [...new Set([...(isIP(host) && host !== "0.0.0.0" && host !== "::" ? [host] : []), "127.0.0.1", "::1"])];
  const names = { dns: app.config.tls_auto_names.filter((n) => !isIP(n)), ips: [...new Set([...app.config.tls_auto_names.filter((n) => isIP(n)), ...ips])] };
  let current = await app.clusterTls.issueServerCertificate(names, AUTO_TLS_DAYS);
  const renew = async () => {
    if (current.notAfter.getTime() - app.clock.now().getTime() > AUTO_TLS_RENEW_DAYS * 86_400_000) return undefined;
    current = await app.clusterTls.issueServerCertificate(names, AUTO_TLS_DAYS);
    return { cert: current.certPem, key: current.keyPem };
  };
  return { cert: current.certPem, key: current.keyPem, renew };
}

export interface RunningServer {
  /** The bound address, e.g. 127.0.0.1:41234. */
  address: string;
  url: string;
  tls: boolean;
  /** Stops accepting, lets in-flight calls finish (up to the grace period), then closes. */
  drain(graceMs?: number): Promise<void>;
}

interface ListenerTls {
  cert: string | Buffer;
  key: string | Buffer;
  /** CA certificates client certificates may chain to; with any, client certificates are asked for. */
  clientCas: (string | Buffer)[];
  requireClientCert: boolean;
  minVersion: "TLS1.2" | "TLS1.3";
  /** The auto TLS mode: a new certificate when the current one is near its end (undefined: not yet). */
  renew?: () => Promise<{ cert: string; key: string } | undefined>;
}

/** One listener: where, with which TLS, serving which handlers; only the main one has the plain routes and CORS. */
interface ListenerSpec {
  addr: string;
  tls?: ListenerTls;
  rpc(shutdown: AbortSignal): UniversalHandler[];
  /** The same methods' unary calls, served before connect-node sees them (undefined: fast_path off). */
  fast(deps: FastPathDeps): FastPath | undefined;
  plainRoutes: boolean;
}

/**
 * The main port: gRPC, gRPC-Web and Connect for every service, and the plain routes. With TLS,
 * ALPN picks HTTP/2 or HTTP/1.1; in cleartext the first bytes decide
 * (src/http/cleartext-listener.ts). Every connection is held to the connection limits of the
 * configuration (src/http/connection-limits.ts).
 */
export async function startServer(app: App, addr = app.config.addr): Promise<RunningServer> {
  const c = app.config;
  // Agents may prove themselves with the client certificate the cluster CA gave them (GenerateHostCerts).
  const clientCas = [...app.clusterTls.trustedPem(), ...(c.tls_client_ca_file ? [readFileSync(c.tls_client_ca_file)] : [])];
  const common = { clientCas, requireClientCert: c.require_client_cert, minVersion: c.min_tls_version };
  const tls: ListenerTls | undefined = c.tls_cert_file
    ? { cert: readFileSync(c.tls_cert_file), key: readFileSync(c.tls_key_file!), ...common }
    : c.tls_auto
      ? { ...(await autoCertificate(app, addr)), ...common }
      : undefined;
  return startListener(app, { addr, tls, rpc: (shutdown) => rpcHandlers(app, shutdown), fast: (deps) => rpcFastPath(app, deps), plainRoutes: true });
}

/**
 * The mail-server backchannel's own listener (backchannel_address): nauthilus.auth.v1 with
 * health and reflection, nothing else of Warden's; cleartext only on loopback (the
 * configuration refuses anything else), TLS with ALPN h2 otherwise.
 */
export function startBackchannel(app: App, addr = app.config.backchannel_address): Promise<RunningServer> {
  const c = app.config;
  const tls = c.backchannel_tls_cert_file
    ? {
        cert: readFileSync(c.backchannel_tls_cert_file),
        key: readFileSync(c.backchannel_tls_key_file!),
        clientCas: c.backchannel_tls_client_ca_file ? [readFileSync(c.backchannel_tls_client_ca_file)] : [],
        requireClientCert: c.backchannel_require_client_cert,
        minVersion: c.backchannel_min_tls_version,
      }
    : undefined;
  return startListener(app, {
    addr,
    tls,
    rpc: (shutdown) => backchannelRpcHandlers(app, shutdown),
    fast: (deps) => backchannelFastPath(app, deps),
    plainRoutes: false,
  });
}

async function startListener(app: App, spec: ListenerSpec): Promise<RunningServer> {
  const { config, log } = app;
  const addr = spec.addr;
  const limits = connectionLimits(config);
  let draining = false;
  const shutdown = new AbortController();
  const proxies = new TrustedProxies(listOf(config.trusted_proxies));
  /** A call's context from its connection: the client's address (through trusted proxies) and, with TLS, its certificate. */
  const connectionContext = (socket: Socket | undefined, forwardedFor: string | string[] | undefined) => {
    const values = createContextValues();
    values.set(kClientIp, proxies.clientIp(socket?.remoteAddress ?? "", forwardedFor));
    if (spec.tls) values.set(kPeerCertificate, peerCertificateOf(socket));
    return values;
  };
  // HTTP/2's compatibility socket is a proxy; the session's socket is the connection itself.
  const socketOf = (req: http.IncomingMessage | http2.Http2ServerRequest) => ("stream" in req ? req.stream.session?.socket : req.socket) as Socket | undefined;
  const rpc = rpcRequestListener(spec.rpc(shutdown.signal), (req) => connectionContext(socketOf(req), req.headers["x-forwarded-for"]), log);
  const clientIp = (req: http.IncomingMessage | http2.Http2ServerRequest) => proxies.clientIp(req.socket?.remoteAddress ?? "", req.headers["x-forwarded-for"]);
  const fast = spec.fast({ shutdown: shutdown.signal, draining: () => draining, contextValues: connectionContext });
  const plain = spec.plainRoutes ? plainRoutes(app, () => draining, { tls: !!spec.tls, clientIp }) : async () => false;
  const cors = corsPolicy(spec.plainRoutes ? config.cors_allowed_origins : []);
  const onRequest = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    // HTTP/2 calls reach the fast path before node makes them requests (serveStreamsFirst).
    if (fast && req.httpVersionMajor === 1 && fast.tryHttp1(req as http.IncomingMessage, res as http.ServerResponse)) return;
    // CORS headers go on every answer below; a preflight is answered here.
    if (cors(req, res)) return;
    plain(req, res)
      .then((handled) => {
        if (handled) return;
        // An HTTP/1.1 client is told to reconnect elsewhere; HTTP/2 clients already got GOAWAY.
        if (draining && req.httpVersionMajor === 1) res.setHeader("connection", "close");
        rpc(req, res);
      })
      .catch((err) => {
        log.error({ err: { message: (err as Error).message } }, "plain route failed");
        if (!res.headersSent) (res as http.ServerResponse).writeHead(500).end();
      });
  };

  const warnRefusedHttp2 = throttledWarning(log);
  const admission = new Http2Admission(limits.maxSessionsPerAddress, (peer) =>
    warnRefusedHttp2({ peer, max_sessions_per_address: limits.maxSessionsPerAddress }, "too many HTTP/2 connections from one address; refusing more"),
  );
  const h2Sessions = new Set<http2.Http2Session>();
  const serveHttp2 = (server: http2.Http2Server | http2.Http2SecureServer) => {
    if (fast) serveStreamsFirst(server, (stream, headers) => fast.tryStream(stream, headers));
    guardHttp2(server, limits);
    server.on("session", (s: http2.Http2Session) => {
      h2Sessions.add(s);
      s.on("close", () => h2Sessions.delete(s));
    });
  };

  let listener: NetServer;
  let http1: http.Server | undefined;
  let renewal: NodeJS.Timeout | undefined;
  const tls = !!spec.tls;
  if (spec.tls) {
    const secure = http2.createSecureServer(
      {
        ...http2Options(limits),
        allowHTTP1: true,
        cert: spec.tls.cert,
        key: spec.tls.key,
        minVersion: spec.tls.minVersion === "TLS1.3" ? "TLSv1.3" : "TLSv1.2",
        ca: spec.tls.clientCas.length ? spec.tls.clientCas : undefined,
        requestCert: spec.tls.clientCas.length > 0,
        rejectUnauthorized: spec.tls.requireClientCert,
        // A connection that never completes its handshake counts as idle.
        handshakeTimeout: limits.idleMs,
      },
      onRequest,
    );
    applyHttp1Timeouts(secure, limits);
    admitTlsHttp2(secure, admission);
    serveHttp2(secure);
    secure.on("tlsClientError", (err) => log.debug({ err: { message: err.message } }, "tls handshake failed"));
    const renew = spec.tls.renew;
    if (renew) {
      renewal = setInterval(() => {
        renew()
          .then((fresh) => fresh && secure.setSecureContext({ ...fresh, ca: spec.tls!.clientCas }))
          .catch((err: Error) => log.warn({ err: { message: err.message } }, "auto TLS certificate renewal failed"));
      }, AUTO_TLS_CHECK_MS);
      renewal.unref();
    }
    listener = secure;
  } else {
    const h2c = http2.createServer(http2Options(limits), onRequest);
    serveHttp2(h2c);
    http1 = http.createServer(onRequest);
    applyHttp1Timeouts(http1, limits);
    startHttp1Timeouts(http1);
    listener = cleartextListener(h2c, http1, limits.idleMs, (socket) => admission.admit(socket));
  }

  // Past max_connections node closes a new connection as soon as it accepts it.
  listener.maxConnections = limits.maxConnections;
  const warnDrop = throttledWarning(log);
  listener.on("drop", () => warnDrop({ max_connections: limits.maxConnections }, "connection limit reached; refusing new connections"));
  const sockets = new Set<Socket>();
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
      clearInterval(renewal);
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      // GOAWAY: HTTP/2 clients open no new streams; streams in flight run to completion.
      for (const s of h2Sessions) if (!s.closed) s.close();
      http1?.closeIdleConnections();
      const idle = setInterval(() => http1?.closeIdleConnections(), 100);
      // After the grace period, calls still running are told to stop (server streams end with
      // UNAVAILABLE) and get a moment to send that status; then every connection goes.
      const stop = setTimeout(() => shutdown.abort(shuttingDown()), graceMs);
      const kill = setTimeout(() => {
        for (const s of h2Sessions) s.destroy();
        for (const s of sockets) s.destroy();
      }, graceMs + FINAL_STATUS_MS);
      await closed;
      clearTimeout(stop);
      clearTimeout(kill);
      clearInterval(idle);
    },
  };
}
