import type * as http2 from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";

/**
 * At most `max` HTTP/2 connections from one client address (max_sessions_per_address): each is
 * allowed its own streams, so without this one address multiplies the stream limit. The one
 * past the limit is closed before node builds a session for it. (Destroying a session from
 * its "session" event instead crashes node when the socket already holds data.) HTTP/1.1
 * connections are not counted: pools of them from one proxy or NAT are normal.
 */
export class Http2Admission {
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly onRefused: (address: string) => void,
  ) {}

  /** Counts the connection until it closes; false when its address is at the limit already. */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? "";
    const count = this.perAddress.get(address) ?? 0;
    if (count >= this.max) {
      this.onRefused(address);
      return false;
    }
    this.perAddress.set(address, count + 1);
    socket.once("close", () => {
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    });
    return true;
  }
}

/**
 * With TLS, node's HTTP/2 server builds a session as soon as the handshake picks h2, and offers
 * no hook before that: the admission check stands in front of its listener.
 */
export function admitTlsHttp2(server: http2.Http2SecureServer, admission: Http2Admission): void {
  const buildSession = server.listeners("secureConnection") as ((socket: TLSSocket) => void)[];
  server.removeAllListeners("secureConnection");
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.alpnProtocol === "h2" && !admission.admit(socket)) {
      socket.destroy();
      return;
    }
    for (const listener of buildSession) listener.call(server, socket);
  });
}
