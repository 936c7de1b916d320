import * as http2 from "node:http2";
import { resolve } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { expect } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { REPO_ROOT, type ServerProcess } from "./server-process.js";
import { STRONG_PASSWORD } from "./test-app.js";
import { uniqueEmail } from "./unique.js";

export const LOGIN = "warden.auth.v1.AuthService/Login";
export const REGISTER = "warden.auth.v1.AuthService/Register";

// ---------------------------------------------------------------- Connect JSON over fetch

export interface JsonReply {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: any;
}

/** One Connect unary call with a JSON body (or a raw string body) over HTTP/1.1 fetch. */
export async function postConnect(baseUrl: string, method: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonReply> {
  const res = await fetch(`${baseUrl}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : body instanceof Uint8Array ? Buffer.from(body) : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

// ---------------------------------------------------------------- connect-es clients

export interface Clients {
  auth: Client<typeof AuthService>;
  session: Client<typeof SessionService>;
  user: Client<typeof UserService>;
  health: Client<typeof Health>;
}

export function clientsFor(transport: Transport): Clients {
  const make = <S extends DescService>(s: S) => createClient(s, transport);
  return { auth: make(AuthService), session: make(SessionService), user: make(UserService), health: make(Health) };
}

/** Registers a fresh account (STRONG_PASSWORD) and logs it in. */
export async function registerAndLogin(auth: Client<typeof AuthService>, tag: string) {
  const email = uniqueEmail(tag);
  await auth.register({ email, password: STRONG_PASSWORD, displayName: tag });
  return { email, login: await auth.login({ email, password: STRONG_PASSWORD }) };
}

// ---------------------------------------------------------------- @grpc/grpc-js

let grpcPackageCache: any;

/** The warden, grpc.health protos loaded with @grpc/proto-loader from proto/. */
export function grpcPackage(): any {
  grpcPackageCache ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(
      ["warden/auth/v1/auth_service.proto", "warden/session/v1/session_service.proto", "warden/user/v1/user_service.proto", "grpc/health/v1/health.proto"],
      { includeDirs: [resolve(REPO_ROOT, "proto"), resolve(REPO_ROOT, "node_modules/protobufjs")], longs: String, enums: String, defaults: true },
    ),
  );
  return grpcPackageCache;
}

export type GrpcService = "warden.auth.v1.AuthService" | "warden.session.v1.SessionService" | "warden.user.v1.UserService" | "grpc.health.v1.Health";

export function grpcClient(
  address: string,
  service: GrpcService,
  credentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): grpc.Client {
  const ctor = service.split(".").reduce((o, part) => o[part], grpcPackage()) as typeof grpc.Client;
  return new ctor(address, credentials, options);
}

export interface GrpcCallOptions {
  metadata?: Record<string, string>;
  deadlineMs?: number;
}

/** A unary call as a promise; rejects with the grpc.ServiceError. */
export function grpcUnary<T = any>(client: grpc.Client, method: string, request: object, opts: GrpcCallOptions = {}): Promise<T> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
  const callOptions: grpc.CallOptions = opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {};
  return new Promise<T>((resolve, reject) => {
    (client as any)[method](request, md, callOptions, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/** The gRPC status a call failed with; fails the test when it succeeded. */
export async function grpcCode(call: Promise<unknown>): Promise<grpc.status> {
  try {
    await call;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
  expect.unreachable("the call succeeded");
  return grpc.status.UNKNOWN;
}

// ---------------------------------------------------------------- server output checks

/** Every stdout line is one JSON object, and none of the given secrets appears in stdout or stderr. */
export function expectCleanLogs(server: ServerProcess, secrets: string[]): void {
  expect(() => server.logLines()).not.toThrow();
  const output = server.stdout() + server.stderr();
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThan(7);
    expect(output.includes(secret), `a secret appeared in the server output: ${secret.slice(0, 12)}...`).toBe(false);
  }
}

/** A sample from /metrics: the first line of `name` carrying all the given labels (0 when absent). */
export async function metricValue(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text
    .split("\n")
    .find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

/** warden_rpc_calls_total for one method and code. */
export function rpcCallsTotal(baseUrl: string, method: string, code = "ok"): Promise<number> {
  return metricValue(baseUrl, "warden_rpc_calls_total", { method, code });
}

// ---------------------------------------------------------------- gRPC by hand over node:http2

/** The 5-byte gRPC envelope (uncompressed) around a message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** A gRPC request written by hand: the body bytes go out exactly as given, with any extra headers. */
export function grpcRawHttp2(
  baseUrl: string,
  path: string,
  body: Buffer,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<{ status: number; grpcStatus?: string; grpcMessage?: string }> {
  const session = http2.connect(baseUrl);
  return new Promise((resolve, reject) => {
    const result: { status: number; grpcStatus?: string; grpcMessage?: string } = { status: 0 };
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) result.grpcStatus = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) result.grpcMessage = decodeURIComponent(String(h["grpc-message"]));
    };
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    req.on("response", (h) => {
      result.status = Number(h[":status"]);
      take(h); // a trailers-only response
    });
    req.on("trailers", take);
    req.on("data", () => {});
    req.on("end", () => {
      session.close();
      resolve(result);
    });
    req.on("error", (err) => {
      session.destroy();
      reject(err);
    });
    req.end(body);
  });
}
