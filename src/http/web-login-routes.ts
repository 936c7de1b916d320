import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { randomUUID } from "node:crypto";
import { errorToJson, codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { App } from "../app.js";
import type { RequestMeta } from "../domain/auth/request-meta.js";
import type { WebLoginRequest } from "../domain/auth/web-login.js";
import { invalidArgument, unauthenticated } from "../domain/errors.js";
import { toConnectError } from "../interceptors/errors.js";
import { SESSION_COOKIE_NAMES, sessionCookieOf } from "./session-cookie.js";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

/** A login form is small: anything larger is refused before it is parsed. */
const MAX_BODY_BYTES = 16 * 1024;

/**
 * The SPA's cookie session: POST /v1/webapi/login (JSON, the password step or the second-factor
 * step), POST /v1/webapi/logout, and GET /v1/webapi/session (the CSRF token again after a page
 * reload). The cookie is HttpOnly, SameSite=Strict, and Secure with the __Host- prefix on TLS.
 */
export async function webLoginRoute(app: App, path: string, req: Req, res: Res, clientIp: string, tls: boolean): Promise<void> {
  const meta: RequestMeta = {
    clientIp,
    userAgent: String(req.headers["user-agent"] ?? "").slice(0, 512),
    requestId: randomUUID(),
    method: `${req.method} ${path}`,
  };
  try {
    if (path === "/v1/webapi/login" && req.method === "POST") {
      const r = await app.webLogin.login(loginRequestOf(await jsonBody(req)), meta);
      if (r.kind === "mfa") return json(res, 200, { mfaRequired: true, challengeId: r.challengeId, mfaMethods: r.methods });
      const maxAge = Math.max(0, Math.floor((r.expiresAt.getTime() - app.clock.now().getTime()) / 1000));
      return json(
        res,
        200,
        { sessionId: r.sessionId, csrfToken: r.csrfToken, expiresAt: r.expiresAt.toISOString(), user: { id: r.user.id, email: r.user.email } },
        {
          "set-cookie": sessionCookie(tls, r.bearer, maxAge),
        },
      );
    }
    if (path === "/v1/webapi/logout" && req.method === "POST") {
      const bearer = sessionCookieOf(req.headers.cookie);
      if (!bearer) throw unauthenticated("UNAUTHENTICATED", "no session cookie");
      await app.webLogin.logout(bearer, String(req.headers["x-csrf-token"] ?? ""), meta);
      return json(res, 200, {}, { "set-cookie": sessionCookie(tls, "", 0) });
    }
    if (path === "/v1/webapi/session" && req.method === "GET") {
      const bearer = sessionCookieOf(req.headers.cookie);
      if (!bearer) throw unauthenticated("UNAUTHENTICATED", "no session cookie");
      const p = await app.webLogin.whoIs(bearer, clientIp);
      return json(res, 200, { sessionId: p.sessionId, csrfToken: app.webLogin.csrfFor(p.sessionId), userId: p.userId });
    }
    res.setHeader("allow", path === "/v1/webapi/session" ? "GET" : "POST");
    return json(res, 405, { code: "unimplemented", message: "method not allowed here" });
  } catch (err) {
    const ce = toConnectError(err, app.log, meta.requestId);
    const reason = ce.findDetails(ErrorInfoSchema)[0]?.reason;
    const headers: Record<string, string> = {};
    ce.metadata.forEach((v, k) => (headers[k] = v));
    return json(res, codeToHttpStatus(ce.code), { ...errorToJson(ce, undefined), reason }, headers);
  }
}

function sessionCookie(tls: boolean, value: string, maxAge: number): string {
  const name = tls ? SESSION_COOKIE_NAMES.secure : SESSION_COOKIE_NAMES.plain;
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${tls ? "; Secure" : ""}`;
}

/** Only JSON: a cross-site HTML form cannot send it without a CORS preflight (login CSRF). */
async function jsonBody(req: Req): Promise<unknown> {
  const type = String(req.headers["content-type"] ?? "")
    .split(";")[0]!
    .trim()
    .toLowerCase();
  if (type !== "application/json") throw invalidArgument("content-type", "must be application/json");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw invalidArgument("body", `larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw invalidArgument("body", "is not JSON");
  }
}

const text = (v: unknown, field: string, max: number): string => {
  if (typeof v !== "string" || v.length === 0 || v.length > max) throw invalidArgument(field, `must be a string of 1 to ${max} characters`);
  return v;
};

/** `{email|username, password}` or `{challengeId, code}`. */
function loginRequestOf(body: unknown): WebLoginRequest {
  if (typeof body !== "object" || body === null) throw invalidArgument("body", "must be a JSON object");
  const b = body as Record<string, unknown>;
  if (b.challengeId !== undefined) return { challengeId: text(b.challengeId, "challengeId", 128), code: text(b.code, "code", 64) };
  return { email: text(b.email ?? b.username, "email", 320), password: text(b.password, "password", 1024) };
}

function json(res: Res, status: number, body: unknown, headers: Record<string, string> = {}): void {
  (res as ServerResponse).writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  (res as ServerResponse).end(JSON.stringify(body));
}
