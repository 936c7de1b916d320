import { existsSync } from "node:fs";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { type Browser, type CDPSession, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PasskeyService } from "../../gen/warden/passkey/v1/passkey_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { createScratchDatabase, dropScratchDatabase, TEST_PG_URL } from "../helpers/database.js";
import { expectError } from "../helpers/expect-error.js";
import { bundlePageScript, CHROMIUM, launchChromium, STEP_TIMEOUT_MS, within } from "../helpers/chromium.js";
import { startServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { bearer, STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";
import type { PasskeyPage } from "./fixtures/passkey-page.js";

const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Warden passkeys</title></head>
<body><h1>Passkeys</h1><script src="/app.js"></script></body></html>`;

/**
 * The test page's origin: serves the page and its script, and forwards every other POST (the
 * Connect RPCs) to the Warden server, so the page calls Warden same-origin and the server needs
 * no CORS.
 */
function startPageServer(script: string, upstream: () => string): Promise<Server> {
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const target = new URL(req.url ?? "/", upstream());
    const headers = { ...req.headers, host: target.host };
    const out = request(target, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  };
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE_HTML);
    } else if (req.method === "GET" && req.url === "/app.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(script);
    } else if (req.method === "POST") {
      forward(req, res);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => ok(server));
  });
}

describe("passkeys in Chromium with a CDP virtual authenticator (real server, Connect-Web)", () => {
  let pageServer: Server | undefined;
  let warden: ServerProcess | undefined;
  let browser: Browser | undefined;
  let scratchDb: string | undefined;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let origin: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    const script = await bundlePageScript("passkey-page.ts");
    pageServer = await startPageServer(script, () => warden!.baseUrl);
    origin = `http://localhost:${(pageServer.address() as AddressInfo).port}`;

    // On a PostgreSQL run the server gets a scratch database of its own; otherwise embedded PGlite.
    if (TEST_PG_URL) scratchDb = await createScratchDatabase();
    warden = await startServerProcess({
      env: { WARDEN_WEBAUTHN_RP_ID: "localhost", WARDEN_WEBAUTHN_ORIGINS: origin, DATABASE_URL: scratchDb },
    });

    browser = await launchChromium();
    const context = await browser.newContext();
    page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    ({ authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
    await page.goto(`${origin}/`);
    await page.waitForSelector("body[data-ready=true]", { state: "attached" });
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await warden?.dispose();
    await new Promise<void>((ok) => (pageServer ? pageServer.close(() => ok()) : ok()));
    if (scratchDb) await dropScratchDatabase(scratchDb);
  });

  /** Runs one of the page's functions in the browser. */
  function inPage<K extends keyof PasskeyPage>(name: K, ...args: Parameters<PasskeyPage[K]>): Promise<Awaited<ReturnType<PasskeyPage[K]>>> {
    const call = page.evaluate(
      ([n, a]) => (window as unknown as { passkeyPage: Record<string, (...x: unknown[]) => Promise<unknown>> }).passkeyPage[n as string]!(...(a as unknown[])),
      [name, args] as const,
    ) as Promise<Awaited<ReturnType<PasskeyPage[K]>>>;
    return within(`page.${String(name)}`, call);
  }

  it("registers a passkey, signs out, and signs back in with it", async () => {
    const node = createConnectTransport({ baseUrl: warden!.baseUrl, httpVersion: "1.1" });
    const sessions = createClient(SessionService, node);
    const email = uniqueEmail("chromium");

    const userId = await inPage("signUp", email, STRONG_PASSWORD);
    const passwordToken = await inPage("signInWithPassword", email, STRONG_PASSWORD);
    const passkey = await inPage("addPasskey", passwordToken, "Chromium virtual authenticator");
    expect(passkey.name).toBe("Chromium virtual authenticator");

    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]!.isResidentCredential).toBe(true);
    expect(credentials[0]!.rpId).toBe("localhost");

    await inPage("signOut", passwordToken);
    await expectError(sessions.validateSession({}, bearer(passwordToken)), Code.Unauthenticated);

    // Discoverable: the authenticator offers its resident credential for the RP, no email given.
    const tokens = await inPage("signInWithPasskey");
    expect(tokens.userId).toBe(userId);
    const v = await sessions.validateSession({}, bearer(tokens.accessToken));
    expect(v).toMatchObject({ valid: true, userId });
    expect(v.session?.id).toBe(tokens.sessionId);
    expect(v.session?.authMethod).toBe("passkey");

    // Narrowed by email, a second time: the counter the browser signs keeps growing.
    const again = await inPage("signInWithPasskey", email);
    expect(again.userId).toBe(userId);
    expect(again.sessionId).not.toBe(tokens.sessionId);
    const listed = await createClient(PasskeyService, node).listPasskeys({}, bearer(again.accessToken));
    expect(listed.passkeys.map((p) => p.id)).toEqual([passkey.id]);
    expect(listed.passkeys[0]!.lastUsedTime).toBeDefined();
    const [credential] = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
    expect(credential!.signCount).toBeGreaterThanOrEqual(2);
  }, 90_000);
});
