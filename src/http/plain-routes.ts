import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { App } from "../app.js";
import { verifyEmailPage } from "./verify-email-page.js";
import { webLoginRoute } from "./web-login-routes.js";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

/**
 * Plain HTTP beside the RPCs: health, readiness, JWKS, Prometheus metrics, the email verification
 * link, and the SPA's cookie sign-in (/v1/webapi/*).
 */
export function plainRoutes(
  app: App,
  isDraining: () => boolean,
  listener: { tls: boolean; clientIp: (req: Req) => string },
): (req: Req, res: Res) => Promise<boolean> {
  return async (req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (path.startsWith("/v1/webapi/")) {
      await webLoginRoute(app, path, req, res, listener.clientIp(req), listener.tls);
      return true;
    }
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    switch (path) {
      case "/v1/verify-email":
        await verifyEmailPage(app, req, res);
        return true;
      case "/healthz":
        send(res, 200, "application/json", JSON.stringify({ status: "ok" }));
        return true;
      case "/readyz": {
        const { ready, dependencies } = await app.readiness.details();
        const ok = ready && !isDraining();
        // One field per dependency ("database", and "redis" when the brute-force counters live there).
        const body = { status: ok ? "ready" : "not_ready", ...dependencies, ...(isDraining() ? { database: "draining" } : {}) };
        send(res, ok ? 200 : 503, "application/json", JSON.stringify(body));
        return true;
      }
      case "/.well-known/jwks.json":
        send(res, 200, "application/json", JSON.stringify(app.keys.jwks()), { "cache-control": "public, max-age=300" });
        return true;
      case "/metrics":
        send(res, 200, app.metrics.registry.contentType, await app.metrics.registry.metrics());
        return true;
      default:
        return false;
    }
  };
}

function send(res: Res, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  (res as ServerResponse).writeHead(status, { "content-type": type, "cache-control": "no-store", ...extra });
  (res as ServerResponse).end(body);
}
