import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { expectError } from "../helpers/expect-error.js";
import { signUp, signUpWithTotp, totpAt, wrongTotp } from "../helpers/mfa-world.js";
import { useServedApp } from "../helpers/served-app.js";
import { STRONG_PASSWORD } from "../helpers/test-app.js";

/**
 * POST /v1/webapi/login and /logout: the SPA's cookie session. The cookie is HttpOnly and
 * SameSite=Strict; Connect calls count it only with the session's CSRF token in x-csrf-token.
 */
describe("web login with a session cookie and a CSRF token", () => {
  const served = useServedApp({ rate_class_budgets: "password=5" });

  async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${served().server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  }
  const cookieOf = (setCookie: string | null) => setCookie!.split(";")[0]!;
  function sessions(headers: Record<string, string>) {
    const transport = createConnectTransport({ baseUrl: served().server.url, httpVersion: "1.1" });
    return { client: createClient(SessionService, transport), options: { headers } };
  }

  it("signs in with a password: an HttpOnly SameSite=Strict cookie and a CSRF token; the cookie works only with it", async () => {
    const user = await signUp(served().t, "web-a");
    const r = await post("/v1/webapi/login", { email: user.email, password: STRONG_PASSWORD });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ sessionId: expect.any(String), csrfToken: expect.stringMatching(/^[0-9a-f]{64}$/), user: { id: user.userId } });
    const setCookie = r.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/^warden_session=wds_[0-9a-f]{32}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    expect(JSON.stringify(r.body)).not.toContain("wds_");

    const cookie = cookieOf(setCookie);
    const s = sessions({ cookie, "x-csrf-token": String(r.body.csrfToken) });
    await expect(s.client.validateSession({}, s.options)).resolves.toMatchObject({ valid: true });
    // Without the CSRF header the cookie is ignored; with another session's token it is refused.
    const noCsrf = sessions({ cookie });
    await expectError(noCsrf.client.validateSession({}, noCsrf.options), Code.Unauthenticated);
    const wrong = sessions({ cookie, "x-csrf-token": "0".repeat(64) });
    await expectError(wrong.client.validateSession({}, wrong.options), Code.PermissionDenied, "CSRF_TOKEN_INVALID");

    // After a page reload the SPA asks for its CSRF token again with the cookie alone.
    const again = await fetch(`${served().server.url}/v1/webapi/session`, { headers: { cookie } });
    expect(await again.json()).toMatchObject({ csrfToken: r.body.csrfToken, userId: user.userId });

    // Logout needs the CSRF token too, ends the session and clears the cookie.
    expect((await post("/v1/webapi/logout", {}, { cookie })).status).toBe(403);
    const out = await post("/v1/webapi/logout", {}, { cookie, "x-csrf-token": String(r.body.csrfToken) });
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toMatch(/^warden_session=; .*Max-Age=0/);
    await expectError(s.client.validateSession({}, s.options), Code.Unauthenticated);
  });

  it("a user with TOTP gets the challenge first; the code completes the sign-in", async () => {
    const t = served().t;
    const user = await signUpWithTotp(t, "web-b");

    const first = await post("/v1/webapi/login", { username: user.email, password: STRONG_PASSWORD });
    expect(first.body).toMatchObject({ mfaRequired: true, challengeId: expect.any(String), mfaMethods: expect.arrayContaining(["totp"]) });
    expect(first.headers.get("set-cookie")).toBeNull();
    const wrongCode = await post("/v1/webapi/login", { challengeId: first.body.challengeId, code: wrongTotp(user.secret, t.clock) });
    expect(wrongCode.body.reason).toBe("MFA_CODE_INVALID");
    const second = await post("/v1/webapi/login", { challengeId: first.body.challengeId, code: totpAt(user.secret, t.clock) });
    expect(second.status).toBe(200);
    expect(second.headers.get("set-cookie")).toMatch(/^warden_session=wds_/);
  });

  it("wrong passwords are refused like Login and spend the same budget; forms and junk are refused", async () => {
    const user = await signUp(served().t, "web-c");
    const wrong = await post("/v1/webapi/login", { email: user.email, password: "not-the-password-123" }, { "x-forwarded-for": "198.51.100.7" });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ code: "unauthenticated", reason: "INVALID_CREDENTIALS" });
    for (let i = 0; i < 6; i++)
      await post("/v1/webapi/login", { email: `nobody${i}@example.com`, password: "whatever-12345" }, { "x-forwarded-for": "198.51.100.8" });
    const limited = await post("/v1/webapi/login", { email: user.email, password: STRONG_PASSWORD }, { "x-forwarded-for": "198.51.100.8" });
    expect(limited.status).toBe(429);
    expect(limited.body.reason).toBe("RATE_LIMITED");

    const form = await fetch(`${served().server.url}/v1/webapi/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `email=${encodeURIComponent(user.email)}&password=${STRONG_PASSWORD}`,
    });
    expect(form.status).toBe(400);
    expect((await post("/v1/webapi/login", "{not json")).status).toBe(400);
    expect((await post("/v1/webapi/login", { email: user.email })).status).toBe(400);
    expect((await fetch(`${served().server.url}/v1/webapi/login`)).status).toBe(405);
  });
});
