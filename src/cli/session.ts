import { readFileSync } from "node:fs";
import type { DescService } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { CliError, isTokenExpired, UsageError } from "./errors.js";
import { withoutSession, type Profile } from "./profile.js";

/** Every call gives up after this long rather than hang on a dead server. */
const CALL_TIMEOUT_MS = 30_000;
/** Refresh a little before the recorded expiry: the call still has to reach the server. */
const EXPIRY_MARGIN_MS = 10_000;

/** "warden.example.com" -> "https://warden.example.com"; no trailing slash, nothing but scheme, host and path. */
export function normalizeServer(text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`--server: "${text}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--server: use an http:// or https:// URL`);
  if (url.username || url.password || url.search || url.hash) throw new UsageError(`--server: give only the scheme, host, port and path`);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}

/** A server and the way to reach it: Connect over HTTP/1.1 in cleartext, HTTP/2 with TLS. */
export class Connection {
  readonly transport: Transport;

  constructor(
    readonly server: string,
    readonly caFile?: string,
    interceptors: Interceptor[] = [],
  ) {
    let ca: Buffer | undefined;
    if (caFile) {
      try {
        ca = readFileSync(caFile);
      } catch (err) {
        throw new CliError(`cannot read the CA file ${caFile}: ${(err as Error).message}`);
      }
    }
    const tls = server.startsWith("https:");
    this.transport = createConnectTransport({
      baseUrl: server,
      httpVersion: tls ? "2" : "1.1",
      // Trust added to the system's CAs, never verification turned off.
      nodeOptions: ca ? { ca } : undefined,
      defaultTimeoutMs: CALL_TIMEOUT_MS,
      interceptors,
    });
  }

  client<S extends DescService>(service: S): Client<S> {
    return createClient(service, this.transport);
  }
}

export function isoOf(ts: Timestamp | undefined): string | undefined {
  return ts ? timestampDate(ts).toISOString() : undefined;
}

/**
 * The stored session: every call carries its access token. An access token past its recorded
 * expiry, or one the server calls expired (TOKEN_EXPIRED), is renewed once per run with the
 * refresh token (AuthService/Refresh); the renewed tokens are saved for the next run.
 */
export class SignedIn {
  private readonly authed: Connection;
  private refreshed = false;
  private refreshing?: Promise<void>;

  constructor(
    private readonly anonymous: Connection,
    private current: Profile,
    private readonly save: (profile: Profile) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {
    this.authed = new Connection(anonymous.server, anonymous.caFile, [this.bearer]);
  }

  get profile(): Profile {
    return this.current;
  }

  get server(): string {
    return this.anonymous.server;
  }

  client<S extends DescService>(service: S): Client<S> {
    return this.authed.client(service);
  }

  private readonly bearer: Interceptor = (next) => async (req) => {
    if (this.pastExpiry()) await this.refresh();
    req.header.set("authorization", `Bearer ${this.current.accessToken}`);
    try {
      return await next(req);
    } catch (err) {
      if (this.refreshed || !isTokenExpired(err)) throw err;
      await this.refresh();
      req.header.set("authorization", `Bearer ${this.current.accessToken}`);
      return await next(req);
    }
  };

  private pastExpiry(): boolean {
    const at = this.current.expiresAt ? Date.parse(this.current.expiresAt) : NaN;
    return !this.refreshed && at - EXPIRY_MARGIN_MS <= this.now();
  }

  private refresh(): Promise<void> {
    this.refreshed = true;
    this.refreshing ??= (async () => {
      try {
        const r = await this.anonymous.client(AuthService).refresh({ refreshToken: this.current.refreshToken });
        this.current = { ...this.current, accessToken: r.accessToken, refreshToken: r.refreshToken, expiresAt: isoOf(r.expiresAt) };
      } catch (err) {
        // A refused refresh token will not work later either: forget the session.
        if (err instanceof ConnectError && err.code === Code.Unauthenticated) await this.save(withoutSession(this.current));
        throw err;
      }
      await this.save(this.current);
    })();
    return this.refreshing;
  }
}
