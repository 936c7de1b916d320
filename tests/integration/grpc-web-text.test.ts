import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { HealthCheckRequestSchema, HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { AuthService, LoginRequestSchema, LoginResponseSchema } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { ValidateSessionRequestSchema, ValidateSessionResponseSchema } from "../../gen/warden/session/v1/session_service_pb.js";
import { decodeBase64 } from "../../src/http/grpc-web-text.js";
import { useServedApp } from "../helpers/served-app.js";
import { STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const LOGIN = "/warden.auth.v1.AuthService/Login";
const VALIDATE = "/warden.session.v1.SessionService/ValidateSession";
const HEALTH_CHECK = "/grpc.health.v1.Health/Check";
const HEALTH_WATCH = "/grpc.health.v1.Health/Watch";
/** The read limit of the methods anyone may call (Login, Health) in this file. */
const PUBLIC_LIMIT = 4096;

/** The 5-byte gRPC-Web envelope around a message (flag 0x80 marks the trailer frame). */
function envelope(payload: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** A decoder written apart from the server's: one 4-character quantum at a time, padding anywhere. */
function decodeQuantumByQuantum(text: string): Buffer {
  expect(text.length % 4, "the response is whole base64 quanta").toBe(0);
  expect(text).toMatch(/^[A-Za-z0-9+/=]*$/);
  const parts: Buffer[] = [];
  for (let i = 0; i < text.length; i += 4) parts.push(Buffer.from(text.slice(i, i + 4), "base64"));
  return Buffer.concat(parts);
}

interface Frames {
  messages: Buffer[];
  trailer: Record<string, string>;
}

/** Splits a gRPC-Web body into its data frames and its trailer frame. */
function framesOf(body: Buffer): Frames {
  const frames: Frames = { messages: [], trailer: {} };
  for (let at = 0; at < body.length;) {
    const flags = body[at]!;
    const length = body.readUInt32BE(at + 1);
    const data = body.subarray(at + 5, at + 5 + length);
    at += 5 + length;
    if (flags & 0x80) {
      for (const line of data.toString("latin1").split("\r\n").filter(Boolean)) {
        const i = line.indexOf(":");
        frames.trailer[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
    } else frames.messages.push(Buffer.from(data));
  }
  return frames;
}

interface Reply {
  status: number;
  contentType: string;
  /** The body as sent, before any decoding. */
  raw: string;
  frames: Frames;
}

/**
 * POSTs a body (with its content-length) in the given parts, with a pause in between so that the
 * server reads them apart, and reads the answer; text content types are base64-decoded.
 */
function post(baseUrl: string, path: string, contentType: string, parts: (string | Uint8Array)[], headers: Record<string, string> = {}): Promise<Reply> {
  const length = parts.reduce((n, p) => n + Buffer.byteLength(p), 0);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, baseUrl),
      { method: "POST", headers: { "content-type": contentType, "content-length": String(length), "x-grpc-web": "1", ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const raw = Buffer.concat(chunks);
          const type = String(res.headers["content-type"] ?? "");
          const body = type.startsWith("application/grpc-web-text") ? decodeQuantumByQuantum(raw.toString("latin1")) : raw;
          resolve({ status: res.statusCode!, contentType: type, raw: raw.toString("latin1"), frames: framesOf(body) });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    void (async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, 15));
        req.write(part);
      }
      req.end();
    })();
  });
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const frameOf = <D extends DescMessage>(schema: D, init: Parameters<typeof create<D>>[1]) => envelope(toBinary(schema, create(schema, init)));
const decoded = <D extends DescMessage>(schema: D, reply: Reply): MessageShape<D> => {
  expect(reply.frames.messages).toHaveLength(1);
  return fromBinary(schema, reply.frames.messages[0]!);
};

describe("decodeBase64 (the request side of gRPC-Web text)", () => {
  const decodeAll = async (chunks: string[]) => {
    const out: Uint8Array[] = [];
    for await (const c of decodeBase64(
      (async function* () {
        for (const chunk of chunks) yield Buffer.from(chunk, "latin1");
      })(),
    ))
      out.push(c);
    return Buffer.concat(out);
  };

  it("decodes whatever the chunk boundaries, padded segments and whitespace", async () => {
    const bytes = randomBytes(200);
    // Segments of 1..6 bytes, each encoded with its own padding, then cut into chunks of 1..7 characters.
    const segments: string[] = [];
    for (let at = 0, n = 1; at < bytes.length; at += n, n = (n % 6) + 1) segments.push(b64(bytes.subarray(at, at + n)));
    const text = segments.join("\r\n");
    const chunks: string[] = [];
    for (let at = 0, n = 1; at < text.length; at += n, n = (n % 7) + 1) chunks.push(text.slice(at, at + n));
    expect(segments.some((s) => s.endsWith("=="))).toBe(true);
    expect(await decodeAll(chunks)).toEqual(bytes);
    expect(await decodeAll([b64(bytes)])).toEqual(bytes);
    // Without its padding, the last segment is read all the same.
    expect(await decodeAll([b64(bytes.subarray(0, 7)).replace(/=+$/, "")])).toEqual(bytes.subarray(0, 7));
  });

  it.each([
    ["a character outside base64", "AAAA!AAA"],
    ["URL-safe base64", "AA-_"],
    ["padding inside a quantum", "A=AA"],
    ["one character too many", "AAAAA"],
    ["padding alone", "===="],
  ])("refuses %s with INVALID_ARGUMENT", async (_name, text) => {
    await expect(decodeAll([text])).rejects.toMatchObject({ kind: "invalid_argument", message: expect.stringMatching(/not base64/) });
  });
});

describe("gRPC-Web text (application/grpc-web-text) over HTTP/1.1 (real server)", () => {
  const served = useServedApp({ max_public_message_bytes: PUBLIC_LIMIT });
  const url = () => served().server.url;

  async function registered(): Promise<string> {
    const email = uniqueEmail("grpcwebtext");
    await createClient(AuthService, createConnectTransport({ baseUrl: url(), httpVersion: "1.1" })).register({
      email,
      password: STRONG_PASSWORD,
      displayName: "Text",
    });
    return email;
  }

  it("Login as Google's runtime sends it: answered in base64 as application/grpc-web-text+proto", async () => {
    const email = await registered();
    const reply = await post(url(), LOGIN, "application/grpc-web-text", [b64(frameOf(LoginRequestSchema, { email, password: STRONG_PASSWORD }))], {
      accept: "application/grpc-web-text",
    });
    expect(reply.status).toBe(200);
    expect(reply.contentType).toBe("application/grpc-web-text+proto");
    expect(reply.raw).toMatch(/^[A-Za-z0-9+/=]+$/);
    expect(reply.frames.trailer["grpc-status"]).toBe("0");
    const login = decoded(LoginResponseSchema, reply);
    expect(login.user?.email).toBe(email);
    expect(login.accessToken.split(".")).toHaveLength(3);

    // An authenticated call, with application/grpc-web-text+proto this time.
    const ok = await post(url(), VALIDATE, "application/grpc-web-text+proto", [b64(frameOf(ValidateSessionRequestSchema, {}))], {
      authorization: `Bearer ${login.accessToken}`,
    });
    expect(ok.contentType).toBe("application/grpc-web-text+proto");
    expect(decoded(ValidateSessionResponseSchema, ok)).toMatchObject({ valid: true, session: { id: login.sessionId } });

    const anonymous = await post(url(), VALIDATE, "application/grpc-web-text", [b64(frameOf(ValidateSessionRequestSchema, {}))]);
    expect(anonymous.frames.messages).toEqual([]);
    expect(anonymous.frames.trailer["grpc-status"]).toBe(String(Code.Unauthenticated));
    const wrong = await post(url(), LOGIN, "application/grpc-web-text", [b64(frameOf(LoginRequestSchema, { email, password: "wrong-password-123" }))]);
    expect(wrong.frames.trailer["grpc-status"]).toBe(String(Code.Unauthenticated));
  });

  it("reads a body that arrives in many chunks, as separately padded segments with line breaks", async () => {
    const frame = frameOf(HealthCheckRequestSchema, { service: "warden" });
    const segments = [frame.subarray(0, 1), frame.subarray(1, 5), frame.subarray(5)].map(b64).join("\n");
    expect(segments).toMatch(/=\n/);
    const parts = [segments.slice(0, 1), segments.slice(1, 6), segments.slice(6, 7), segments.slice(7)];
    const reply = await post(url(), HEALTH_CHECK, "application/grpc-web-text", parts);
    expect(reply.frames.trailer["grpc-status"]).toBe("0");
    expect(decoded(HealthCheckResponseSchema, reply).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("application/grpc-web-text+json: JSON messages in base64", async () => {
    const reply = await post(url(), HEALTH_CHECK, "application/grpc-web-text+json", [b64(envelope(Buffer.from('{"service":"warden"}')))]);
    expect(reply.contentType).toBe("application/grpc-web-text+json");
    expect(reply.frames.messages.map((m) => JSON.parse(m.toString()))).toEqual([{ status: "SERVING" }]);
  });

  it.each([
    ["characters outside base64", "AAAA!!!!"],
    ["a truncated quantum", `${b64(frameOf(HealthCheckRequestSchema, {}))}A`],
    ["padding in the middle of a quantum", "AA=A"],
  ])("%s -> INVALID_ARGUMENT in a gRPC-Web text answer, not a 500", async (_name, body) => {
    const reply = await post(url(), LOGIN, "application/grpc-web-text", [body]);
    expect(reply.status).toBe(200);
    expect(reply.contentType).toBe("application/grpc-web-text+proto");
    expect(reply.frames.trailer["grpc-status"]).toBe(String(Code.InvalidArgument));
    expect(decodeURIComponent(reply.frames.trailer["grpc-message"]!)).toMatch(/grpc-web-text request body is not base64/);
  });

  it("holds the decoded message to the read limit, like binary gRPC-Web: the base64 length does not count", async () => {
    const login = (password: string) => frameOf(LoginRequestSchema, { email: "a@example.com", password });
    // Under the limit once decoded, over it in base64: read, then refused by the password rule.
    const under = login("p".repeat(PUBLIC_LIMIT - 100));
    expect(b64(under).length).toBeGreaterThan(PUBLIC_LIMIT);
    const over = login("p".repeat(PUBLIC_LIMIT + 100));
    for (const [frame, code] of [
      [under, Code.InvalidArgument],
      [over, Code.ResourceExhausted],
    ] as const) {
      const text = await post(url(), LOGIN, "application/grpc-web-text", [b64(frame)]);
      const binary = await post(url(), LOGIN, "application/grpc-web+proto", [frame]);
      expect(binary.frames.trailer["grpc-status"]).toBe(String(code));
      expect(text.frames.trailer).toEqual(binary.frames.trailer);
    }
  });

  it("server streaming: Health/Watch sends its first status as soon as it has it", async () => {
    const abort = new AbortController();
    const res = await fetch(`${url()}${HEALTH_WATCH}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web-text", "x-grpc-web": "1" },
      body: b64(frameOf(HealthCheckRequestSchema, { service: "" })),
      signal: abort.signal,
    });
    expect(res.headers.get("content-type")).toBe("application/grpc-web-text+proto");
    const reader = res.body!.getReader();
    let text = "";
    // The stream stays open (the next status comes on a change): read until one whole frame is in.
    for (;;) {
      const { value, done } = await reader.read();
      expect(done, "the stream ended before its first message").toBe(false);
      text += Buffer.from(value!).toString("latin1");
      const body = decodeQuantumByQuantum(text.slice(0, text.length - (text.length % 4)));
      if (body.length >= 5 && body.length >= 5 + body.readUInt32BE(1)) {
        const frames = framesOf(body);
        expect(frames.messages.map((m) => fromBinary(HealthCheckResponseSchema, m).status)).toEqual([HealthCheckResponse_ServingStatus.SERVING]);
        break;
      }
    }
    abort.abort();
  });
});
