import * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorFromJson } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { ErrorInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";

/** What a client learns from one refused call, whatever the protocol: code name, ErrorInfo, message. */
export interface Outcome {
  code: string;
  reason?: string;
  domain?: string;
  message: string;
  /** HTTP status (Connect; 200 for gRPC and gRPC-Web). */
  status: number;
}

function outcomeOf(err: ConnectError | undefined, status: number): Outcome {
  if (!err) return { code: "OK", message: "", status };
  const info = err.findDetails(ErrorInfoSchema)[0];
  return { code: Code[err.code], reason: info?.reason, domain: info?.domain, message: err.rawMessage, status };
}

/** The 5-byte envelope (uncompressed unless `flags` says otherwise) around a payload. */
export function envelope(payload: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** A Connect unary call with a hand-made body over HTTP/1.1. */
export async function connectRaw(
  baseUrl: string,
  method: string,
  body: string | Uint8Array,
  contentType = "application/json",
  headers: Record<string, string> = {},
): Promise<Outcome> {
  const res = await fetch(`${baseUrl}/${method}`, {
    method: "POST",
    headers: { "content-type": contentType, ...headers },
    body: typeof body === "string" ? body : Buffer.from(body),
  });
  const text = await res.text();
  if (res.status === 200) return { code: "OK", message: "", status: 200 };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { code: `HTTP ${res.status}`, message: text, status: res.status };
  }
  return outcomeOf(errorFromJson(json as never, res.headers, new ConnectError("not a Connect error", Code.Unknown)), res.status);
}

/** A gRPC call over HTTP/2 whose request body is exactly `body` (envelope included). */
export function grpcRaw(baseUrl: string, method: string, body: Uint8Array, headers: http2.OutgoingHttpHeaders = {}): Promise<Outcome> {
  const session = http2.connect(baseUrl);
  session.on("error", () => {});
  return new Promise((resolve, reject) => {
    const meta = new Headers();
    let status = 0;
    const take = (h: http2.IncomingHttpHeaders) => {
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(":") && v !== undefined) meta.set(k, Array.isArray(v) ? v.join(", ") : String(v));
    };
    const req = session.request({ ":method": "POST", ":path": `/${method}`, "content-type": "application/grpc", te: "trailers", ...headers });
    req.on("response", (h) => {
      status = Number(h[":status"]);
      take(h);
    });
    req.on("trailers", take);
    req.on("data", () => {});
    req.on("end", () => {
      session.close();
      resolve(outcomeOf(findTrailerError(meta), status));
    });
    req.on("error", (err) => {
      session.destroy();
      reject(err);
    });
    req.end(Buffer.from(body));
  });
}

/** A gRPC-Web call over HTTP/1.1 fetch whose request body is exactly `body` (envelope included). */
export async function grpcWebRaw(baseUrl: string, method: string, body: Uint8Array): Promise<Outcome> {
  const res = await fetch(`${baseUrl}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
    body: Buffer.from(body),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const meta = new Headers();
  res.headers.forEach((v, k) => meta.set(k, v));
  // The trailer frame (flag 0x80) carries the status as HTTP/1-style header lines.
  for (let at = 0; at + 5 <= bytes.length;) {
    const length = bytes.readUInt32BE(at + 1);
    if (bytes[at]! & 0x80)
      for (const line of bytes
        .subarray(at + 5, at + 5 + length)
        .toString("latin1")
        .split("\r\n")) {
        const i = line.indexOf(":");
        if (i > 0) meta.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
      }
    at += 5 + length;
  }
  return outcomeOf(findTrailerError(meta), res.status);
}
