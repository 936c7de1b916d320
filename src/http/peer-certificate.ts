import type { X509Certificate } from "node:crypto";
import { TLSSocket } from "node:tls";

/** Per connection: its client certificate is the same for every request on it. */
const byConnection = new WeakMap<TLSSocket, X509Certificate | null>();

/**
 * The client certificate of a connection (TLS only; an HTTP/2 session's socket or an HTTP/1.1
 * request's), parsed once per connection. Whether it chains to a CA is for its user to decide
 * (agents: the cluster CA).
 */
export function peerCertificateOf(socket: unknown): X509Certificate | undefined {
  if (!(socket instanceof TLSSocket)) return undefined;
  let cert = byConnection.get(socket);
  if (cert === undefined) {
    cert = socket.getPeerX509Certificate() ?? null;
    byConnection.set(socket, cert);
  }
  return cert ?? undefined;
}
