import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

describe("register, login, validate", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t?.close());

  it("issues a token that validates the session", async () => {
    const auth = t.client(AuthService);
    await auth.register({ email: "Ann@Example.com", password: STRONG_PASSWORD, displayName: "Ann" });
    const login = await auth.login({ email: "ann@example.com", password: STRONG_PASSWORD });
    expect(login.user?.email).toBe("ann@example.com");
    const v = await t.client(SessionService).validateSession({}, bearer(login.accessToken));
    expect(v.valid).toBe(true);
    expect(v.session?.id).toBe(login.sessionId);
  });
});
