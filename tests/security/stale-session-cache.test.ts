import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { newUser } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

const ABSOLUTE_SECONDS = 30 * 60;
const CACHE_SECONDS = 60;

/**
 * Attack: riding on a cached session after it died. Sessions are cached (here for a minute), so
 * a stolen refresh token's reuse, or the session's absolute expiry, must end the cached copy
 * too: on this instance and on another one sharing the database.
 */
describe("stale session cache", () => {
  let t: TestApp;
  let other: TestApp;
  beforeAll(async () => {
    const settings = { session_absolute_timeout: `${ABSOLUTE_SECONDS}s`, session_cache_ttl: `${CACHE_SECONDS}s` };
    t = await createTestApp(settings);
    other = await createTestApp(settings, { sameDatabaseAs: t });
  });
  afterAll(async () => {
    await other?.close();
    await t?.close();
  });

  const validateOn = (app: TestApp, token: string) => app.client(SessionService).validateSession({}, bearer(token));

  it("refuses a session cached just before its refresh token was reused, at once, on both instances", async () => {
    const u = await newUser(t, { tag: "cached-reuse" });
    await validateOn(t, u.accessToken);
    await validateOn(other, u.accessToken); // both instances hold the session now

    await t.client(AuthService).refresh({ refreshToken: u.refreshToken }, { headers: { "user-agent": "owner" } });
    await expectError(
      t.client(AuthService).refresh({ refreshToken: u.refreshToken }, { headers: { "user-agent": "thief" } }),
      Code.Unauthenticated,
      "REFRESH_TOKEN_REUSED",
    );

    // No clock movement: the caches must not serve the revoked session for a single call.
    await expectError(validateOn(t, u.accessToken), Code.Unauthenticated, "SESSION_REVOKED");
    await expectError(validateOn(other, u.accessToken), Code.Unauthenticated, "SESSION_REVOKED");
  });

  it("refuses a session cached seconds before its absolute expiry once it expires, while the cache still holds it", async () => {
    const u = await newUser(t, { tag: "cached-expiry" });
    t.clock.advance(ABSOLUTE_SECONDS - 3);
    const token = (await t.client(AuthService).refresh({ refreshToken: u.refreshToken })).accessToken;
    await expect(validateOn(t, token)).resolves.toMatchObject({ valid: true }); // cached for a minute from here

    t.clock.advance(4);
    await expectError(validateOn(t, token), Code.Unauthenticated, "SESSION_EXPIRED");
  });
});
