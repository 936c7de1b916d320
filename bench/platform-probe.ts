/**
 * One decoded call per target, before and after its load run: h2load sees only HTTP status
 * and wrk only status counts, so these check that the answer is the RPC's real success
 * (grpc-status 0 and the expected message; HTTP 200 with the expected JSON).
 */
import * as http from "node:http";
import * as http2 from "node:http2";

/** A gRPC length-prefixed message: flag 0 (not compressed), 4-byte big-endian length, bytes. */
export function grpcEnvelope(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** One gRPC unary call over h2c; resolves the decoded message bytes or throws with what came back instead. */
export function grpcCall(origin: string, path: string, message: Uint8Array, headers: Record<string, string>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(origin);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (head = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", (err) => (session.close(), reject(err)));
    stream.on("end", () => {
      session.close();
      const status = trailers["grpc-status"] ?? head["grpc-status"];
      const body = Buffer.concat(chunks);
      if (Number(head[":status"]) !== 200 || status !== "0") {
        const msg = trailers["grpc-message"] ?? head["grpc-message"] ?? "";
        reject(new Error(`HTTP ${head[":status"]}, grpc-status ${status ?? "missing"} ${decodeURIComponent(String(msg))}`.trim()));
        return;
      }
      if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
        reject(new Error(`grpc-status 0 but not one uncompressed message (${body.length} bytes)`));
        return;
      }
      resolve(body.subarray(5));
    });
    stream.end(grpcEnvelope(message));
  });
}

/** One POST over HTTP/1.1 with a JSON body; resolves the parsed JSON answer of an HTTP 200 or throws. */
export function jsonCall(origin: string, path: string, body: string, headers: Record<string, string>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${path}`, { method: "POST", agent: false, headers: { "content-type": "application/json", ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => {
        if (res.statusCode !== 200 || !String(res.headers["content-type"]).startsWith("application/json")) {
          reject(new Error(`HTTP ${res.statusCode} ${res.headers["content-type"]}: ${text.slice(0, 200)}`));
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new Error(`HTTP 200 but not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}
