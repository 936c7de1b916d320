import type { X509Certificate } from "node:crypto";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { TLSSocket } from "node:tls";

/** Per connection: its client certificate is the same for every request on it. */
const byConnection = new WeakMap<TLSSocket, X509Certificate | null>();

/**
 * The client certificate of the connection a request came on (TLS only), parsed once per
 * connection. Whether it chains to a CA is for its user to decide (agents: the cluster CA).
 */
export function peerCertificateOf(req: http.IncomingMessage | http2.Http2ServerRequest): X509Certificate | undefined {
  // HTTP/2's compatibility socket is a proxy; the session's socket is the TLS socket itself.
  return peerCertificateOfSocket("stream" in req ? req.stream.session?.socket : req.socket);
}

/** The same, from the connection's socket (an HTTP/2 session's, or an HTTP/1.1 request's). */
export function peerCertificateOfSocket(socket: unknown): X509Certificate | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  let cert = byConnection.get(socket);
  if (cert === undefined) {
    cert = socket.getPeerX509Certificate() ?? null;
    byConnection.set(socket, cert);
  }
  return cert ?? undefined;
}
