import * as http from "node:http";
import * as http2 from "node:http2";
import { brotliDecompressSync, gunzipSync } from "node:zlib";

/**
 * Requests written and answers read byte for byte, over HTTP/2 cleartext (node:http2) or
 * HTTP/1.1 (node:http), for comparing two servers: no client library in between deciding what
 * a header or a frame means.
 */
export interface RawRequest {
  http: 1 | 2;
  method?: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** Send the headers and this many body bytes, never end the body (a declared length the client does not keep). */
  truncateAt?: number;
  /** HTTP/1.1 only: the body in two chunks (transfer-encoding: chunked), no content-length. */
  chunked?: boolean;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[]>;
  trailers: Record<string, string | string[]>;
  body: Buffer;
}

const ANSWER_MS = 10_000;

/** One HTTP/2 session per server, reused by every request to it. */
export class Http2Sessions {
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();

  private session(baseUrl: string): http2.ClientHttp2Session {
    const open = this.sessions.get(baseUrl);
    if (open && !open.closed && !open.destroyed) return open;
    const s = http2.connect(baseUrl);
    s.on("error", () => this.sessions.delete(baseUrl));
    this.sessions.set(baseUrl, s);
    return s;
  }

  send(baseUrl: string, req: RawRequest): Promise<RawResponse> {
    // endStream: false, or node ends a GET's stream itself before the (empty) body is written.
    const stream = this.session(baseUrl).request({ ":method": req.method ?? "POST", ":path": req.path, ...req.headers }, { endStream: false });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (stream.close(), reject(new Error(`no answer to ${req.path} in ${ANSWER_MS} ms`))), ANSWER_MS);
      const out: RawResponse = { status: 0, headers: {}, trailers: {}, body: Buffer.alloc(0) };
      const chunks: Buffer[] = [];
      stream.on("response", (h) => {
        out.status = Number(h[":status"]);
        out.headers = withoutPseudo(h);
      });
      stream.on("trailers", (h) => (out.trailers = withoutPseudo(h)));
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        clearTimeout(timer);
        out.body = Buffer.concat(chunks);
        resolve(out);
      });
      stream.on("error", (err) => (clearTimeout(timer), reject(err)));
      if (req.truncateAt === undefined) stream.end(req.body);
      else {
        // Half a body under a larger content-length (nghttp2 resets a stream that ends short of it).
        stream.write(req.body.subarray(0, req.truncateAt));
        stream.once("end", () => stream.close());
      }
    });
  }

  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }
}

/** One HTTP/1.1 request on its own connection (a refused body may close it). */
export function sendHttp1(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const r = http.request({ host: url.hostname, port: url.port, method: req.method ?? "POST", path: req.path, headers: req.headers, agent: false });
    const timer = setTimeout(() => (r.destroy(), reject(new Error(`no answer to ${req.path} in ${ANSWER_MS} ms`))), ANSWER_MS);
    r.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: { ...res.headers } as RawResponse["headers"],
          trailers: { ...res.trailers } as RawResponse["trailers"],
          body: Buffer.concat(chunks),
        });
        // A body the server stopped reading is never finished: drop the connection.
        if (req.truncateAt !== undefined) r.destroy();
      });
      res.on("error", (err) => (clearTimeout(timer), reject(err)));
    });
    r.on("error", (err) => (clearTimeout(timer), reject(err)));
    if (req.truncateAt !== undefined) r.write(req.body.subarray(0, req.truncateAt));
    else if (req.chunked) {
      const half = req.body.length >> 1;
      r.write(req.body.subarray(0, half));
      r.end(req.body.subarray(half));
    } else r.end(req.body);
  });
}

function withoutPseudo(h: http2.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (!k.startsWith(":") && v !== undefined) out[k] = typeof v === "number" ? String(v) : v;
  return out;
}

// ---------------------------------------------------------------- comparing answers

/** Headers whose values say nothing about the call: compared for presence only, or not at all. */
const PRESENCE_ONLY = new Set(["x-request-id"]);
const IGNORED = new Set(["date", "connection", "keep-alive", "transfer-encoding"]);

/**
 * What of an answer must be the same on both paths: status, headers (the volatile ones as
 * present/absent), trailers, and the body decoded (gzip undone; envelopes split; JSON parsed;
 * error details decoded) so that an encoding's freedom (JSON key order) is not a difference.
 * `raw` is the body as sent, for the byte-for-byte check.
 */
export interface AnswerView {
  status: number;
  headers: Record<string, string>;
  trailers: Record<string, string>;
  body: unknown;
  raw: string;
}

export function viewOf(res: RawResponse, random?: RegExp): AnswerView {
  const id = first(res.headers["x-request-id"]) ?? first(res.trailers["x-request-id"]);
  const mask = (s: string) => {
    const masked = id ? s.split(id).join("<request-id>") : s;
    // Values the server draws at random (challenges): the same shape is all two answers can share.
    return random ? masked.replace(random, "<random>") : masked;
  };
  const headers = headerView(res.headers, mask);
  const trailers = headerView(res.trailers, mask);
  const encoding = headers["content-encoding"] ?? headers["grpc-encoding"];
  const contentType = headers["content-type"] ?? "";
  return { status: res.status, headers, trailers, body: bodyView(res.body, contentType, encoding, mask), raw: mask(res.body.toString("latin1")) };
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function headerView(h: Record<string, string | string[]>, mask: (s: string) => string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (IGNORED.has(k)) continue;
    const value = Array.isArray(v) ? v.join("\n") : v;
    if (PRESENCE_ONLY.has(k)) out[k] = "<present>";
    // Binary headers (grpc-status-details-bin) are compared decoded; the request id masked inside.
    else if (k.endsWith("-bin")) out[k] = mask(Buffer.from(value, "base64").toString("latin1"));
    else out[k] = mask(value);
  }
  return out;
}

function bodyView(body: Buffer, contentType: string, encoding: string | undefined, mask: (s: string) => string): unknown {
  if (body.length === 0) return "";
  if (contentType.startsWith("application/grpc")) return envelopesOf(body, encoding, contentType.includes("json"), mask);
  const plain = encoding === "gzip" ? gunzipSync(body) : encoding === "br" ? brotliDecompressSync(body) : body;
  if (contentType.startsWith("application/json")) return parsedJson(mask(plain.toString("utf8")));
  return mask(plain.toString("latin1"));
}

/** gRPC / gRPC-Web envelopes: flags, and the message (decompressed; JSON parsed; a trailer block as a header map). */
function envelopesOf(body: Buffer, encoding: string | undefined, json: boolean, mask: (s: string) => string): unknown {
  const out: unknown[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 5) return { malformed: mask(body.toString("latin1")) };
    const flags = body[at]!;
    const length = body.readUInt32BE(at + 1);
    let data = body.subarray(at + 5, at + 5 + length);
    at += 5 + length;
    if (flags & 0x01) data = encoding === "gzip" ? gunzipSync(data) : encoding === "br" ? brotliDecompressSync(data) : data;
    if (flags & 0x80) out.push({ flags, trailer: trailerBlock(data.toString("latin1"), mask) });
    else out.push({ flags, message: json ? parsedJson(mask(data.toString("utf8"))) : mask(data.toString("latin1")) });
  }
  return out;
}

function trailerBlock(block: string, mask: (s: string) => string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of block.split("\r\n")) {
    if (!line) continue;
    const colon = line.indexOf(":");
    const k = line.slice(0, colon).trim().toLowerCase();
    const v = line.slice(colon + 1).trim();
    out[k] = PRESENCE_ONLY.has(k) ? "<present>" : k.endsWith("-bin") ? mask(Buffer.from(v, "base64").toString("latin1")) : mask(v);
  }
  return out;
}

function parsedJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { notJson: text };
  }
}
