import { randomBytes } from "node:crypto";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { startServerProcess, type ServerProcess, type StartOptions } from "./server-process.js";

/** Several servers for the enclosing describe block, started together (a start takes seconds). */
export function useServers(...opts: StartOptions[]): () => ServerProcess[] {
  let servers: ServerProcess[] = [];
  beforeAll(async () => {
    // Starts are slow on a loaded two-core machine, slower still several at once.
    const started = await Promise.allSettled(opts.map((o) => startServerProcess({ startTimeoutMs: 120_000, ...o })));
    servers = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }, 150_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.dispose()));
  });
  return () => servers;
}

export const WRONG_PASSWORD = "surely-not-the-password-9071";

/** AuthService over Connect (HTTP/1.1) from this process, i.e. from the peer 127.0.0.1. */
export function authClientOf(server: ServerProcess): Client<typeof AuthService> {
  return createClient(AuthService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
}

/** A Login with the given X-Forwarded-For (none when undefined), tagged with a request id for the log. */
export function loginFrom(
  auth: Client<typeof AuthService>,
  forwardedFor: string | undefined,
  email: string,
  password = WRONG_PASSWORD,
  requestId = `bf-${randomBytes(6).toString("hex")}`,
) {
  const headers: Record<string, string> = { "x-request-id": requestId };
  if (forwardedFor !== undefined) headers["x-forwarded-for"] = forwardedFor;
  return auth.login({ email, password }, { headers });
}

/** The client address the server logged for a request. */
export async function loggedPeer(server: ServerProcess, requestId: string): Promise<unknown> {
  return (await server.waitForLog((l) => l.request_id === requestId && l.msg === "rpc", 5000)).peer;
}

/** An IPv6 documentation address in a /64 of its own: groups 3 and 4 are random, four hex digits each. */
export function uniqueV6(): { address: string; tag: string } {
  const group = () => (0x1000 + (randomBytes(2).readUInt16BE() % 0xf000)).toString(16);
  const tag = `${group()}:${group()}`;
  return { address: `2001:db8:${tag}::7`, tag };
}
