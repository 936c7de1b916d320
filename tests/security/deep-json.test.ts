import { beforeAll, describe, expect, it } from "vitest";
import { rpcCallsTotal } from "../helpers/e2e-clients.js";
import { useServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { connectRaw } from "./support/rpc.js";

/**
 * Attack: deeply nested JSON. 3.8 MB of brackets kept JSON.parse busy (the event loop blocked
 * for 0.7 s) before any rate limit or credential check. The nesting is measured on the raw
 * text before anything is parsed; past max_json_depth (64 by default) the answer is
 * INVALID_ARGUMENT, logged and counted like any other error.
 */
const GET_SESSION = "warden.session.v1.SessionService/GetSession";
const LOGIN = "warden.auth.v1.AuthService/Login";
const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

describe("JSON nesting is bounded before parsing (max_json_depth 64 by default)", () => {
  const current = useServerProcess();
  let server: ServerProcess;
  beforeAll(() => {
    server = current();
  });

  it("3.8 MB of open brackets to a method under the general size limit -> INVALID_ARGUMENT, before authentication", async () => {
    const r = await connectRaw(server.baseUrl, GET_SESSION, `{"id":${"[".repeat(3_800_000)}`);
    expect(r).toMatchObject({ code: "InvalidArgument", reason: "INVALID_ARGUMENT", domain: "warden", status: 400 });
    expect(r.message).toMatch(/nest/i);
  });

  it("balanced nesting 65 deep (within the public size limit) -> INVALID_ARGUMENT; 64 deep is parsed as usual", async () => {
    const deep = await connectRaw(server.baseUrl, LOGIN, `{"email":"a@b.example","password":${nested(64)}}`);
    expect(deep).toMatchObject({ code: "InvalidArgument", reason: "INVALID_ARGUMENT" });
    expect(deep.message).toMatch(/nest/i);
    // 63 arrays inside the request object: 64 levels, so the JSON decoder itself answers (a list is not a string).
    const fits = await connectRaw(server.baseUrl, LOGIN, `{"email":"a@b.example","password":${nested(63)}}`);
    expect(fits).toMatchObject({ code: "InvalidArgument", reason: "INVALID_ARGUMENT" });
    expect(fits.message).not.toMatch(/nest/i);
  });

  it("brackets inside strings are not nesting", async () => {
    const r = await connectRaw(server.baseUrl, LOGIN, JSON.stringify({ email: `${"[{".repeat(100)}@b.example`, password: "not-the-password" }));
    expect(r.code).not.toBe("OK");
    expect(r.message).not.toMatch(/nest/i);
  });

  it("the refusals were counted, and the server still answers", async () => {
    expect(await rpcCallsTotal(server.baseUrl, GET_SESSION, "InvalidArgument")).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
    expect(server.child.exitCode).toBeNull();
  });
});
