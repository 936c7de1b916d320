import type * as http from "node:http";
import type * as http2 from "node:http2";
import { createServer, type Server, type Socket } from "node:net";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * The cleartext port: the first bytes decide, the HTTP/2 preface going to the h2c server and
 * anything else to the HTTP/1.1 server. A connection that sends nothing within idleMs is closed
 * here, before either server has seen it; from its first byte on, their own timeouts apply. An
 * HTTP/2 connection that `admitHttp2` turns away is closed before the h2c server sees it.
 */
export function cleartextListener(h2c: http2.Http2Server, http1: http.Server, idleMs: number, admitHttp2: (socket: Socket) => boolean): Server {
  return createServer((socket) => {
    const ignore = () => {}; // a reset before the first byte must not be an unhandled 'error'
    const hangUp = () => socket.destroy();
    socket.on("error", ignore);
    socket.once("end", hangUp);
    socket.setTimeout(idleMs, hangUp);
    socket.once("readable", function route() {
      const head: Buffer | null = socket.read();
      if (head === null) {
        socket.once("readable", route);
        return;
      }
      socket.setTimeout(0);
      socket.off("timeout", hangUp);
      socket.off("end", hangUp);
      socket.off("error", ignore);
      if (!isHttp2(head)) {
        socket.unshift(head);
        http1.emit("connection", socket);
      } else if (admitHttp2(socket)) {
        socket.unshift(head);
        h2c.emit("connection", socket);
      } else socket.destroy();
    });
  });
}

function isHttp2(head: Buffer): boolean {
  const n = Math.min(head.length, H2_PREFACE.length);
  return head.length >= 3 && H2_PREFACE.subarray(0, n).equals(head.subarray(0, n));
}
