import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { createScratchDatabase, dropScratchDatabase, TEST_PG_URL } from "../helpers/database.js";
import { expectError } from "../helpers/expect-error.js";
import { bundlePageScript, CHROMIUM, launchChromium, STEP_TIMEOUT_MS, within } from "../helpers/chromium.js";
import { startServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { STRONG_PASSWORD } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";
import type { ClientsPage } from "./fixtures/browser-clients-page.js";

const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Warden clients</title></head>
<body><h1>Clients</h1><script src="/app.js"></script></body></html>`;

/** An origin of its own for the page: it serves the page and its script, and nothing else (no proxy). */
function startPageServer(script: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/") res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE_HTML);
    else if (req.method === "GET" && req.url === "/app.js") res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(script);
    else res.writeHead(404).end();
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => ok({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}

describe("browser clients in Chromium, cross-origin to Warden (CORS; Connect-Web, Google's grpc-web)", () => {
  const pageServers: Server[] = [];
  let warden: ServerProcess | undefined;
  let browser: Browser | undefined;
  let scratchDb: string | undefined;
  /** A page from the origin Warden lists, and one from an origin it does not. */
  let listed: Page;
  let stranger: Page;
  let listedOrigin: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    const script = await bundlePageScript("browser-clients-page.ts");
    const [a, b] = await Promise.all([startPageServer(script), startPageServer(script)]);
    pageServers.push(a!.server, b!.server);
    listedOrigin = a!.origin;

    if (TEST_PG_URL) scratchDb = await createScratchDatabase();
    warden = await startServerProcess({
      // Every page sign-up comes from 127.0.0.1: the per-address sign-up budget is raised.
      env: { WARDEN_CORS_ALLOWED_ORIGINS: listedOrigin, WARDEN_SIGNUPS_PER_ADDRESS_PER_HOUR: "1000", DATABASE_URL: scratchDb },
    });
    // Two different ports: cross-origin, as a web app on its own host calling Warden.
    expect(new URL(warden.baseUrl).origin).not.toBe(listedOrigin);

    browser = await launchChromium();
    const open = async (origin: string) => {
      const page = await (await browser!.newContext()).newPage();
      page.setDefaultTimeout(STEP_TIMEOUT_MS);
      await page.goto(`${origin}/`);
      await page.waitForSelector("body[data-ready=true]", { state: "attached" });
      return page;
    };
    listed = await open(listedOrigin);
    stranger = await open(b!.origin);
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await warden?.dispose();
    for (const s of pageServers) await new Promise<void>((ok) => s.close(() => ok()));
    if (scratchDb) await dropScratchDatabase(scratchDb);
  });

  /** Runs one of the page's functions in the browser. */
  function inPage<K extends keyof ClientsPage>(page: Page, name: K, ...args: Parameters<ClientsPage[K]>): Promise<Awaited<ReturnType<ClientsPage[K]>>> {
    const call = page.evaluate(
      ([n, a]) => (window as unknown as { clientsPage: Record<string, (...x: unknown[]) => Promise<unknown>> }).clientsPage[n as string]!(...(a as unknown[])),
      [name, args] as const,
    ) as Promise<Awaited<ReturnType<ClientsPage[K]>>>;
    return within(`page.${String(name)}`, call);
  }

  const nodeAuth = () => createClient(AuthService, createConnectTransport({ baseUrl: warden!.baseUrl, httpVersion: "1.1" }));

  it.each(["connect", "grpc-web"] as const)("Connect-Web (%s): Register, Login and an authenticated call with a bearer interceptor", async (kind) => {
    const email = uniqueEmail(`browser-${kind}`);
    const r = await inPage(listed, "connectFlow", kind, warden!.baseUrl, email, STRONG_PASSWORD);
    expect(r.userId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.loginUserId).toBe(r.userId);
    expect(r.loginEmail).toBe(email);
    expect(r.valid).toBe(true);
    expect(r.validSessionId).toBe(r.sessionId);
    // The account is real: Node, same-origin to nobody, signs in to it too.
    expect((await nodeAuth().login({ email, password: STRONG_PASSWORD })).user?.id).toBe(r.userId);
    // An error reaches the page with its code (the browser let it read the response).
    expect(await inPage(listed, "connectLogin", kind, warden!.baseUrl, email, "wrong-password-123")).toMatchObject({
      failed: true,
      code: Code.Unauthenticated,
    });
  });

  it.each(["text", "binary"] as const)(
    "Google's grpc-web runtime (%s): Login, an authenticated call, errors with their codes, Health/Check",
    async (format) => {
      const email = uniqueEmail(`google-${format}`);
      const userId = (await nodeAuth().register({ email, password: STRONG_PASSWORD, displayName: "Google" })).user!.id;
      const r = await inPage(listed, "googleFlow", format, warden!.baseUrl, email, STRONG_PASSWORD);
      expect(r.loginEmail).toBe(email);
      expect(r.loginUserId).toBe(userId);
      expect(r.valid).toBe(true);
      expect(r.validSessionId).toBe(r.sessionId);
      // grpc-web's StatusCode.UNAUTHENTICATED is 16, as in every gRPC runtime.
      expect(r.wrong).toMatchObject({ failed: true, code: 16 });
      expect(r.anonymous).toMatchObject({ failed: true, code: 16 });
      expect(r.health).toBe(HealthCheckResponse_ServingStatus.SERVING);
    },
  );

  it("Google's grpc-web runtime (text): server streaming, Health/Watch's first status", async () => {
    expect(await inPage(listed, "googleWatchFirst", "text", warden!.baseUrl)).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("a page from an origin Warden does not list is refused by the browser, with every client", async () => {
    const email = uniqueEmail("stranger");
    await nodeAuth().register({ email, password: STRONG_PASSWORD, displayName: "Stranger" });
    for (const kind of ["connect", "grpc-web"] as const) {
      // Correct credentials: only CORS can make these fail. Connect-Web reports the failed fetch.
      const r = await inPage(stranger, "connectLogin", kind, warden!.baseUrl, email, STRONG_PASSWORD);
      expect(r, kind).toMatchObject({ failed: true, code: Code.Unknown, message: expect.stringMatching(/Failed to fetch/) });
    }
    for (const format of ["text", "binary"] as const) {
      const r = await inPage(stranger, "googleLogin", format, warden!.baseUrl, email, STRONG_PASSWORD);
      // The XHR failed without a response (status 0): grpc-web's UNKNOWN, not the server's answer.
      expect(r, format).toMatchObject({ failed: true, code: 2, message: expect.stringMatching(/http status code: 0/) });
    }
    // A sign-up from there never reached Warden: the preflight was refused, so the POST was not sent.
    const blocked = uniqueEmail("blocked");
    await expect(inPage(stranger, "connectFlow", "connect", warden!.baseUrl, blocked, STRONG_PASSWORD)).rejects.toThrow(/Failed to fetch/);
    await expectError(nodeAuth().login({ email: blocked, password: STRONG_PASSWORD }), Code.Unauthenticated);
    // The same call from the listed page goes through.
    expect(await inPage(listed, "connectLogin", "connect", warden!.baseUrl, email, STRONG_PASSWORD)).toMatchObject({ failed: false });
  });
});
