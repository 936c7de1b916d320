import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { expect } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { createScratchDatabase, dropScratchDatabase, TEST_PG_URL } from "./database.js";
import { postConnect, type JsonReply } from "./e2e-clients.js";
import { REPO_ROOT, startServerProcess, type ServerProcess, type StartOptions } from "./server-process.js";
import { STRONG_PASSWORD } from "./test-app.js";
import { uniqueEmail } from "./unique.js";

/**
 * For the end-to-end tests of the mail-server backchannel (nauthilus.auth.v1.AuthService on its
 * own listener): the Basic caller a mail server is configured with, the requests a Nauthilus user
 * sends, `buf curl` without a schema, and the Warden side (users, an organization, service
 * accounts) set up over Connect JSON on the main port.
 */

export const AUTHENTICATE = "nauthilus.auth.v1.AuthService/Authenticate";
export const LIST_ACCOUNTS = "nauthilus.auth.v1.AuthService/ListAccounts";

/** The Basic caller the test servers are configured with (a password of at least 16 characters). */
export const BACKCHANNEL_USER = "backchannel";
export const BACKCHANNEL_PASSWORD = "mail-backchannel-7f3c9a1e";
/** As the Nauthilus docs build it: `printf 'user:password' | base64` (short enough not to wrap). */
export const BASIC = `Basic ${Buffer.from(`${BACKCHANNEL_USER}:${BACKCHANNEL_PASSWORD}`).toString("base64")}`;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The status messages a mail client's user sees, as the server words them. */
export const MESSAGES = {
  ok: "Authentication succeeded",
  invalid: "Invalid login or password",
  tooMany: "Too many failed login attempts; try again later",
  unavailable: "Authentication is temporarily unavailable; try again later",
  invalidDe: "Ungültiger Benutzername oder ungültiges Passwort",
  okDe: "Anmeldung erfolgreich",
  invalidFr: "Identifiant ou mot de passe incorrect",
};

/** The settings that turn on the Basic caller (bearer tokens of service accounts are on by default). */
export function backchannelEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    WARDEN_BACKCHANNEL_BASIC_AUTH_ENABLED: "true",
    WARDEN_BACKCHANNEL_BASIC_AUTH_USERNAME: BACKCHANNEL_USER,
    WARDEN_BACKCHANNEL_BASIC_AUTH_PASSWORD: BACKCHANNEL_PASSWORD,
    ...extra,
  };
}

/** http://host:port of the server's backchannel listener. */
export function backchannelUrl(server: ServerProcess): string {
  if (!server.backchannelAddress) throw new Error("the server logged no backchannel address");
  return `http://${server.backchannelAddress}`;
}

/**
 * An Authenticate request as Dovecot (through Nauthilus) sends it: the proto's field names, as
 * grpcurl and buf curl accept them; `overrides` adds or replaces fields (lowerCamel works too).
 */
export function authRequest(username: string, password: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    username,
    password,
    client_ip: "203.0.113.7",
    client_port: "54321",
    client_hostname: "mua.example.test",
    local_ip: "127.0.0.1",
    local_port: "143",
    protocol: "imap",
    method: "plain",
    auth_login_attempt: 1,
    ...overrides,
  };
}

/** A Warden server on a database of its own (a scratch one on a PostgreSQL run) with the Basic caller on. */
export interface BackchannelWarden {
  server: ServerProcess;
  /** http://host:port of the backchannel. */
  backchannel: string;
  databaseUrl?: string;
  dispose(): Promise<void>;
}

export async function startBackchannelWarden(env: Record<string, string | undefined> = {}, opts: Omit<StartOptions, "env"> = {}): Promise<BackchannelWarden> {
  const databaseUrl = TEST_PG_URL ? await createScratchDatabase() : undefined;
  try {
    const server = await startServerProcess({ ...opts, env: { DATABASE_URL: databaseUrl, ...backchannelEnv(env) } });
    return {
      server,
      backchannel: backchannelUrl(server),
      databaseUrl,
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

// ---------------------------------------------------------------- buf curl

const BUF = resolve(REPO_ROOT, "node_modules/.bin/buf");

export interface BufCurlResult {
  /** buf curl's exit code: 0, or the gRPC code times 8 for an RPC error. */
  exit: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, when the call succeeded. */
  json?: any;
  /** The error buf curl printed on stderr: Connect's lowercase code, message and the ErrorInfo reason. */
  error?: { code: string; message: string; reason?: string };
}

/**
 * `buf curl` as a user runs it: no schema of its own (everything comes from server reflection),
 * h2c with prior knowledge for gRPC. Does not throw on a failed call: the exit code and what it
 * printed are the result.
 */
export function bufCurl(args: string[], timeoutMs = 30_000): Promise<BufCurlResult> {
  return new Promise((done, fail) => {
    execFile(BUF, ["curl", "--connect-timeout", "10", ...args], { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      const exit = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      if (err && exit === -1) return fail(new Error(`buf curl ${args.join(" ")}: ${err.message}\n${stderr}`));
      const result: BufCurlResult = { exit, stdout, stderr };
      if (exit === 0 && stdout.trim().startsWith("{")) {
        try {
          result.json = JSON.parse(stdout);
        } catch {
          /* left for the caller to read in stdout */
        }
      }
      // The error is the JSON object after buf's own ("buf: ...") lines.
      const start = stderr.search(/^\{$/m);
      if (exit !== 0 && start >= 0) {
        try {
          const e = JSON.parse(stderr.slice(start));
          const info = (e.details ?? []).find((d: any) => d.type === "google.rpc.ErrorInfo");
          result.error = { code: e.code, message: e.message, reason: info ? fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64")).reason : undefined };
        } catch {
          /* not an RPC error: a transport failure, the text stays in stderr */
        }
      }
      done(result);
    });
  });
}

/** `buf curl --protocol grpc --http2-prior-knowledge` of one backchannel method with a JSON body. */
export function bufCurlGrpc(
  baseUrl: string,
  method: string,
  body: unknown,
  headers: Record<string, string> = {},
  extra: string[] = [],
): Promise<BufCurlResult> {
  const h = Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  return bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", ...extra, ...h, "-d", JSON.stringify(body), `${baseUrl}/${method}`]);
}

/** A call buf curl saw succeed: its JSON answer. */
export function answered(r: BufCurlResult): any {
  expect(r.exit, `buf curl failed:\n${r.stderr}`).toBe(0);
  return r.json;
}

/** A response header as `buf curl -v` printed it (the last response of that name), lowercased name. */
export function verboseResponseHeader(stderr: string, name: string): string | undefined {
  const re = new RegExp(`^buf: < \\(#\\d+\\) ${name}: (.*)$`, "gim");
  let last: string | undefined;
  for (const m of stderr.matchAll(re)) last = m[1]!.trim();
  return last;
}

// ---------------------------------------------------------------- the Warden side, over Connect JSON

async function ok(reply: Promise<JsonReply>, what: string): Promise<any> {
  const r = await reply;
  if (r.status !== 200) throw new Error(`${what}: HTTP ${r.status} ${r.text}`);
  return r.json;
}

export interface MailUser {
  id: string;
  email: string;
  password: string;
}

/** Registers a fresh user on the main port (STRONG_PASSWORD unless given). */
export async function registerMailUser(baseUrl: string, tag: string, password = STRONG_PASSWORD): Promise<MailUser> {
  const email = uniqueEmail(tag);
  const r = await ok(postConnect(baseUrl, "warden.auth.v1.AuthService/Register", { email, password, displayName: tag }), "Register");
  return { id: r.user.id, email, password };
}

export async function accessToken(baseUrl: string, email: string, password: string): Promise<string> {
  return (await ok(postConnect(baseUrl, "warden.auth.v1.AuthService/Login", { email, password }), "Login")).accessToken;
}

export type BackchannelScope = "API_KEY_SCOPE_BACKCHANNEL" | "API_KEY_SCOPE_BACKCHANNEL_LIST_ACCOUNTS" | "API_KEY_SCOPE_READ";

/**
 * The README's flow: the owner creates an organization, adds members, creates a service account
 * per scope set, and each trades its client id and secret for a token.
 */
export async function mailOrganization(
  baseUrl: string,
  owner: MailUser,
  members: MailUser[],
  scopeSets: Record<string, BackchannelScope[]>,
): Promise<{ organizationId: string; tokens: Record<string, string> }> {
  const auth = { authorization: `Bearer ${await accessToken(baseUrl, owner.email, owner.password)}` };
  const org = await ok(
    postConnect(baseUrl, "warden.org.v1.OrganizationService/CreateOrganization", { name: `Mail ${owner.email}` }, auth),
    "CreateOrganization",
  );
  const organizationId: string = org.organization.id;
  for (const m of members)
    await ok(
      postConnect(baseUrl, "warden.org.v1.MembershipService/AddMember", { organizationId, userId: m.id, role: "MEMBER_ROLE_MEMBER" }, auth),
      "AddMember",
    );
  const tokens: Record<string, string> = {};
  for (const [name, scopes] of Object.entries(scopeSets)) {
    const sa = await ok(
      postConnect(baseUrl, "warden.serviceaccount.v1.ServiceAccountService/CreateServiceAccount", { organizationId, name, scopes }, auth),
      "CreateServiceAccount",
    );
    const issued = await ok(
      postConnect(baseUrl, "warden.serviceaccount.v1.ServiceAccountService/AuthenticateServiceAccount", {
        clientId: sa.serviceAccount.clientId,
        clientSecret: sa.clientSecret,
      }),
      "AuthenticateServiceAccount",
    );
    tokens[name] = issued.accessToken;
  }
  return { organizationId, tokens };
}
