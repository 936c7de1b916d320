import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { TestPki } from "./certs.js";
import { createScratchDatabase, dropScratchDatabase, TEST_PG_URL } from "./database.js";
import { jwtClaims } from "./jwt.js";
import { REPO_ROOT, startServerProcess, type ServerProcess } from "./server-process.js";

/**
 * For the end-to-end tests that drive a real server with gRPC clients written in other languages
 * (tests/e2e/go-client.test.ts, python-client.test.ts): toolchain checks, one server per
 * transport, running a client, and the assertions both clients' flows share.
 */

const run = promisify(execFile);

/**
 * describe() when every path exists. Otherwise CI (which installs the packages in .ci/run) gets
 * a failing test naming what is missing, and a developer's machine a skipped block saying why.
 */
export function describeWithTools(title: string, paths: string[], packages: string, body: () => void): void {
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length === 0) return void describe(title, body);
  const why = `missing ${missing.join(", ")}: apt-get install -y ${packages}`;
  if (process.env.CI) {
    describe(title, () => {
      it("has its toolchain", () => {
        throw new Error(`${why} (.ci/run installs them)`);
      });
    });
  } else {
    describe.skip(`${title} [skipped, ${why}]`, body);
  }
}

export type Transport = "h2c" | "tls";

export interface ServedWarden {
  server: ServerProcess;
  /** The CA file a TLS client must trust; undefined on h2c. */
  caFile?: string;
  dispose(): Promise<void>;
}

/** A server on its own database (a scratch one on a PostgreSQL run), cleartext h2c or TLS. */
export async function startWarden(transport: Transport, pki: TestPki): Promise<ServedWarden> {
  const databaseUrl = TEST_PG_URL ? await createScratchDatabase() : undefined;
  const tls = transport === "tls" ? { WARDEN_TLS_CERT_FILE: pki.server.cert, WARDEN_TLS_KEY_FILE: pki.server.key } : {};
  try {
    const server = await startServerProcess({ env: { DATABASE_URL: databaseUrl, ...tls } });
    return {
      server,
      caFile: transport === "tls" ? pki.ca.cert : undefined,
      async dispose() {
        await server.dispose();
        if (databaseUrl) await dropScratchDatabase(databaseUrl);
      },
    };
  } catch (err) {
    if (databaseUrl) await dropScratchDatabase(databaseUrl);
    throw err;
  }
}

/** Runs a command (protoc, go build); its stderr goes into the error when it fails. */
export async function runTool(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${file} ${args.join(" ")} failed: ${e.message}\n${e.stderr ?? ""}`, { cause: err });
  }
}

/** Runs a client that prints one JSON object, and parses it. */
export async function runJsonClient(file: string, args: string[], timeoutMs = 30_000): Promise<any> {
  const stdout = await runTool(file, args, { timeoutMs });
  try {
    return JSON.parse(stdout);
  } catch (err) {
    throw new Error(`${file} did not print JSON:\n${stdout}`, { cause: err });
  }
}

/** The server's log lines for one RPC, to see what it logged of a foreign client's calls. */
export function rpcLogLines(server: ServerProcess, method: string): Record<string, unknown>[] {
  return server.logLines().filter((l) => l.msg === "rpc" && l.method === method);
}

/** A failed call as the clients print it: the numeric gRPC code and the google.rpc.ErrorInfo. */
function failed(code: grpc.status, reason: string) {
  return { code, reason, domain: "warden", message: expect.any(String) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SESSION_ID = /^[0-9a-f]{32}$/;
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * What the Go and Python clients' flow (Register, Login, authenticated calls, Refresh, Logout,
 * Health Check and Watch) must have printed, whatever the language or the transport.
 */
export function expectAuthFlow(out: any, expected: { email: string; displayName: string; userAgent: RegExp }): void {
  // Health: the standard service, per the gRPC health spec (Check: NOT_FOUND for an unknown name).
  expect(out.healthCheck).toEqual({ status: "SERVING", error: null });
  expect(out.healthCheckUnknown.error).toEqual(failed(grpc.status.NOT_FOUND, "NOT_FOUND"));

  // Register: a new, unverified account; the same email again is refused.
  expect(out.register).toEqual({ userId: expect.stringMatching(UUID), email: expected.email, displayName: expected.displayName, emailVerified: false });
  const userId: string = out.register.userId;
  expect(out.registerAgain.error).toEqual(failed(grpc.status.ALREADY_EXISTS, "EMAIL_TAKEN"));

  // Login: a wrong password is refused; the right one gives an EdDSA JWT for this user and session.
  expect(out.loginWrongPassword.error).toEqual(failed(grpc.status.UNAUTHENTICATED, "INVALID_CREDENTIALS"));
  const login = out.login;
  expect(login).toMatchObject({ userId, mfaRequired: false });
  expect(login.sessionId).toMatch(SESSION_ID);
  expect(login.accessToken).toMatch(JWT);
  expect(login.refreshToken).toMatch(REFRESH_TOKEN);
  const claims = jwtClaims(login.accessToken);
  expect(claims).toMatchObject({ sub: userId, sid: login.sessionId, token_type: "access", iss: "warden", aud: "warden" });
  expect(JSON.parse(Buffer.from(login.accessToken.split(".")[0], "base64url").toString())).toMatchObject({ alg: "EdDSA", typ: "JWT" });
  expect(claims.exp).toBe(login.expiresAt);
  expect(login.expiresAt - (claims.iat as number)).toBe(15 * 60);
  expect(Math.abs((claims.iat as number) - Date.now() / 1000)).toBeLessThan(120);

  // The bearer metadata authenticates; no metadata or a malformed token does not.
  const session = { id: login.sessionId, userId, userAgent: expect.stringMatching(expected.userAgent), active: true };
  expect(out.validate).toMatchObject({ valid: true, userId, session });
  expect(out.validateAnonymous.error).toEqual(failed(grpc.status.UNAUTHENTICATED, "UNAUTHENTICATED"));
  expect(out.validateGarbage.error).toEqual(failed(grpc.status.UNAUTHENTICATED, "TOKEN_MALFORMED"));
  expect(out.listActiveSessions).toEqual({ sessionIds: [login.sessionId], error: null });

  // Refresh: a new refresh token, an access token for the same session (the same string when
  // issued within the same second: same claims, deterministic Ed25519 signature).
  const refresh = out.refresh;
  expect(refresh.refreshToken).toMatch(REFRESH_TOKEN);
  expect(refresh.refreshToken).not.toBe(login.refreshToken);
  expect(jwtClaims(refresh.accessToken)).toMatchObject({ sub: userId, sid: login.sessionId });
  expect(refresh.expiresAt).toBeGreaterThanOrEqual(login.expiresAt);
  expect(out.validateRefreshed).toMatchObject({ valid: true, userId, session });

  // Logout ends the session: both access tokens are refused at once, the refresh token is dead.
  expect(out.logout).toEqual({ error: null });
  expect(out.validateAfterLogout.error).toEqual(failed(grpc.status.UNAUTHENTICATED, "SESSION_REVOKED"));
  expect(out.validateFirstTokenAfterLogout.error).toEqual(failed(grpc.status.UNAUTHENTICATED, "SESSION_REVOKED"));
  expect(out.refreshAfterLogout.error).toEqual(failed(grpc.status.UNAUTHENTICATED, "SESSION_REVOKED"));

  // Health/Watch: the current status first (SERVICE_UNKNOWN for an unknown name, the stream
  // staying open), then the client's cancel ends the stream.
  expect(out.watch).toMatchObject({ first: "SERVING", afterCancel: { code: grpc.status.CANCELLED } });
  expect(out.watchUnknown).toMatchObject({ first: "SERVICE_UNKNOWN", afterCancel: { code: grpc.status.CANCELLED } });
}

/** Every credential the flow printed, to check none reached the server's output. */
export function flowSecrets(out: any): string[] {
  return [out.login.accessToken, out.login.refreshToken, out.refresh.accessToken, out.refresh.refreshToken];
}

/** Debian's Go sources (golang-google-grpc-dev and friends), the second GOPATH entry. */
export const GOCODE = "/usr/share/gocode";

/**
 * Builds the Go program in `pkg` (under `<gopath>/src`) offline, in GOPATH mode against Debian's
 * sources. The build cache outlives the run: a rebuild takes a second instead of ~30.
 */
export async function goBuild(gopath: string, pkg: string, bin: string): Promise<string> {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? homedir(),
    GOCACHE: process.env.GOCACHE ?? join(homedir(), ".cache/go-build"),
    GO111MODULE: "off",
    GOPATH: `${gopath}:${GOCODE}`,
    GOFLAGS: "",
    GOPROXY: "off",
    CGO_ENABLED: "0",
  };
  await runTool("/usr/bin/go", ["build", "-o", bin, "."], { cwd: pkg, env, timeoutMs: 240_000 });
  return bin;
}

/**
 * A Go program of tests/e2e/fixtures built with stubs for `protos`: protoc (Debian's plugins)
 * writes them under `<gopath>/src/<pkg>/gen` (the protos have no go_package: M options give each
 * file its import path), then goBuild. Returns the binary.
 */
export async function buildGoFixture(o: { gopath: string; pkg: string; fixture: string; protos: readonly string[]; bin: string }): Promise<string> {
  const dir = join(o.gopath, "src", o.pkg);
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(resolve(REPO_ROOT, "tests/e2e/fixtures", o.fixture)))
    copyFileSync(resolve(REPO_ROOT, "tests/e2e/fixtures", o.fixture, file), join(dir, file));
  const m = o.protos.map((p) => `M${p}=${o.pkg}/gen/${p.slice(0, p.lastIndexOf("/"))}`).join(",");
  const plugins = ["--plugin=protoc-gen-go=/usr/bin/protoc-gen-go", "--plugin=protoc-gen-go-grpc=/usr/bin/protoc-gen-go-grpc"];
  const out = [`--go_out=${o.gopath}/src`, `--go_opt=${m}`, `--go-grpc_out=${o.gopath}/src`, `--go-grpc_opt=${m}`];
  await runTool("/usr/bin/protoc", ["-I", "proto", "-I", "/usr/include", ...plugins, ...out, ...o.protos], { cwd: REPO_ROOT });
  return goBuild(o.gopath, dir, join(o.gopath, o.bin));
}
