import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { randomUUID } from "node:crypto";
import type { App } from "../app.js";
import { DomainError } from "../domain/errors.js";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

/**
 * GET /v1/verify-email?token=...: the link of the verification email. It answers a small page
 * (no script, nothing from the request echoed) saying whether the address is now verified.
 */
export async function verifyEmailPage(app: App, req: Req, res: Res): Promise<void> {
  const token = new URL(req.url ?? "", "http://localhost").searchParams.get("token") ?? "";
  const meta = { clientIp: req.socket?.remoteAddress ?? "", userAgent: String(req.headers["user-agent"] ?? "").slice(0, 512), requestId: randomUUID() };
  try {
    await app.emailLinks.verifyToken(token.slice(0, 128), meta);
    page(res, 200, "Email address verified", "Your email address is verified. You can close this page.");
  } catch (err) {
    if (!(err instanceof DomainError) || err.kind !== "invalid_argument") {
      page(res, 503, "Try again later", "The address could not be verified just now. Open the link again in a while.");
      return;
    }
    page(res, 400, "Link not valid", "This link is wrong, used or expired. Ask for a new verification email.");
  }
}

function page(res: Res, status: number, title: string, text: string): void {
  (res as ServerResponse).writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'",
    "referrer-policy": "no-referrer",
  });
  (res as ServerResponse).end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>`,
  );
}
