import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { randomUUID } from "node:crypto";
import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { errorToJson, codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { App } from "../app.js";
import type { RequestMeta } from "../domain/auth/request-meta.js";
import type { WebLoginRequest } from "../domain/auth/web-login.js";
import { invalidArgument, unauthenticated } from "../domain/errors.js";
import { checkChallengeId } from "../domain/passkey/passkeys.js";
import { parseAuthenticationResponse } from "../domain/passkey/webauthn-json.js";
import { toConnectError } from "../interceptors/errors.js";
import { SESSION_COOKIE_NAMES, sessionCookieOf } from "./session-cookie.js";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

/** A login form is small: anything larger is refused before it is parsed. */
const MAX_BODY_BYTES = 16 * 1024;

/**
 * The SPA's cookie session: POST /v1/webapi/login (JSON, the password step or the second-factor
 * step with a code or a passkey assertion), POST /v1/webapi/logout, and GET /v1/webapi/session
 * (the CSRF token again after a page reload). The cookie is HttpOnly, SameSite=Strict, and Secure
 * with the __Host- prefix on TLS.
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
      if (r.kind === "mfa") {
        // A user with a passkey gets the PublicKeyCredentialRequestOptionsJSON for navigator.credentials.get.
        const webauthn = r.webauthn && { challengeId: r.webauthn.challengeId, options: JSON.parse(r.webauthn.optionsJson) as unknown };
        return json(res, 200, { mfaRequired: true, challengeId: r.challengeId, mfaMethods: r.methods, ...(webauthn ? { webauthn } : {}) });
      }
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

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** `{email|username, password}`, `{challengeId, code}` or `{challengeId, webauthn: {challengeId, credential}}`. */
function loginRequestOf(b: unknown): WebLoginRequest {
  if (!isObject(b)) throw invalidArgument("body", "must be a JSON object");
  if (b.challengeId === undefined) return { email: text(b.email ?? b.username, "email", 320), password: text(b.password, "password", 1024) };
  const challengeId = text(b.challengeId, "challengeId", 128);
  if (b.webauthn === undefined) return { challengeId, code: text(b.code, "code", 64) };
  if (b.code !== undefined) throw invalidArgument("code", "send either code or webauthn, not both");
  return { challengeId, webauthn: webauthnOf(b.webauthn) };
}

/** The passkey step: the WebAuthn challenge's id and the browser's AuthenticationResponseJSON, shape-checked here (400 before any budget is spent). */
function webauthnOf(v: unknown): { challengeId: string; credential: AuthenticationResponseJSON } {
  if (!isObject(v)) throw invalidArgument("webauthn", "must be an object with challengeId and credential");
  const challengeId = text(v.challengeId, "webauthn.challengeId", 64);
  checkChallengeId(challengeId, "webauthn.challengeId");
  if (!isObject(v.credential)) throw invalidArgument("webauthn.credential", "must be the AuthenticationResponseJSON object of navigator.credentials.get");
  return { challengeId, credential: parseAuthenticationResponse(JSON.stringify(v.credential), "webauthn.credential") };
}

function json(res: Res, status: number, body: unknown, headers: Record<string, string> = {}): void {
  (res as ServerResponse).writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  (res as ServerResponse).end(JSON.stringify(body));
}
