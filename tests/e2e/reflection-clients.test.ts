import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcFrame, grpcRawHttp2, postConnect } from "../helpers/e2e-clients.js";
import { makeTestPki, type TestPki } from "../helpers/certs.js";
import { REPO_ROOT, SLOW_TEST, startServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const BUF = resolve(REPO_ROOT, "node_modules/.bin/buf");
const run = promisify(execFile);

/**
 * `buf curl` as a user runs it, with no schema of its own: everything it knows of the server
 * comes from server reflection. `target` holds the URL and the flags its transport needs.
 */
async function bufCurl(target: string[], args: string[]): Promise<string> {
  const { stdout } = await run(BUF, ["curl", "--connect-timeout", "10", ...args, ...target], { timeout: 60_000 });
  return stdout;
}

interface Target {
  name: string;
  /** The URL and transport flags for buf curl (h2c needs prior knowledge; TLS needs the CA). */
  flags(): string[];
}

describe("reflection with buf curl over h2c and TLS", () => {
  let h2c: ServerProcess;
  let tls: ServerProcess;
  let pki: TestPki;
  beforeAll(async () => {
    pki = makeTestPki();
    [h2c, tls] = await Promise.all([
      startServerProcess(),
      startServerProcess({ env: { WARDEN_TLS_CERT_FILE: pki.server.cert, WARDEN_TLS_KEY_FILE: pki.server.key } }),
    ]);
  }, SLOW_TEST.timeout);
  afterAll(async () => {
    await Promise.all([h2c?.dispose(), tls?.dispose()]);
    pki?.cleanup();
  });

  const targets: Target[] = [
    { name: "h2c", flags: () => ["--http2-prior-knowledge", h2c.baseUrl] },
    { name: "TLS", flags: () => ["--cacert", pki.ca.cert, tls.baseUrl] },
  ];

  for (const target of targets)
    for (const reflect of ["grpc-v1", "grpc-v1alpha"]) {
      describe(`${target.name}, --reflect-protocol ${reflect}`, () => {
        const flags = () => ["--reflect-protocol", reflect, ...target.flags()];

        it("lists the services and their methods", async () => {
          const services = (await bufCurl(flags(), ["--list-services"])).trim().split("\n");
          expect(services).toEqual(expect.arrayContaining(["warden.auth.v1.AuthService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]));
          const methods = (await bufCurl(flags(), ["--list-methods"])).trim().split("\n");
          expect(methods).toEqual(
            expect.arrayContaining(["warden.auth.v1.AuthService/Login", "warden.user.v1.UserService/GetUser", "grpc.health.v1.Health/Watch"]),
          );
        });

        it("calls methods it learned by reflection, in gRPC and Connect", async () => {
          const base = target.flags().at(-1)!;
          const email = uniqueEmail(`reflect-${target.name.toLowerCase()}-${reflect}`);
          const transport = target.flags().slice(0, -1);
          const register = JSON.parse(
            await bufCurl(
              ["--reflect-protocol", reflect, ...transport, `${base}/warden.auth.v1.AuthService/Register`],
              ["--protocol", "grpc", "-d", JSON.stringify({ email, password: STRONG_PASSWORD })],
            ),
          );
          expect(register.user.email).toBe(email);
          const login = JSON.parse(
            await bufCurl(
              ["--reflect-protocol", reflect, ...transport, `${base}/warden.auth.v1.AuthService/Login`],
              ["-d", JSON.stringify({ email, password: STRONG_PASSWORD })],
            ),
          );
          expect(login.user.id).toBe(register.user.id);
          const me = JSON.parse(
            await bufCurl(
              ["--reflect-protocol", reflect, ...transport, `${base}/warden.user.v1.UserService/GetUser`],
              ["--protocol", "grpc", "-H", `authorization: Bearer ${login.accessToken}`, "-d", JSON.stringify({ id: login.user.id })],
            ),
          );
          expect(me.user.email).toBe(email);
        });
      });
    }

  it("an unknown method answers gRPC callers UNIMPLEMENTED (HTTP 200, grpc-status 12) and Connect callers 404", async () => {
    for (const path of ["/warden.auth.v1.AuthService/NoSuchMethod", "/no.such.v1.Service/Call"]) {
      const grpc = await grpcRawHttp2(h2c.baseUrl, path, grpcFrame(new Uint8Array()));
      expect(grpc).toMatchObject({ status: 200, grpcStatus: "12" });
      expect(grpc.grpcMessage).toContain(path);
    }
    const web = await fetch(`${h2c.baseUrl}/no.such.v1.Service/Call`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: new Uint8Array(grpcFrame(new Uint8Array())),
    });
    expect(web.status).toBe(200);
    expect(web.headers.get("grpc-status")).toBe("12");
    const connect = await postConnect(h2c.baseUrl, "no.such.v1.Service/Call", {});
    expect(connect.status).toBe(404);
  });
});
