import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { adminLogin, localSession, login, newUser, type SignedIn } from "../helpers/accounts.js";
import { expectError, tally } from "../helpers/expect-error.js";
import { createTestApp } from "../helpers/test-app.js";
import { bearer, type TestApp } from "../helpers/test-app.js";

const IDLE = 10 * 60;
const ABSOLUTE = 30 * 60;

describe("refresh, logout and session lifetime", () => {
  let t: TestApp;
  let admin: SignedIn;
  const auth = () => t.client(AuthService);
  const refresh = (refreshToken: string, client = "warden-tests") => auth().refresh({ refreshToken }, { headers: { "user-agent": client } });
  const validate = (token: string) => t.client(SessionService).validateSession({}, bearer(token));
  const expectAccepted = (token: string) => expect(validate(token)).resolves.toMatchObject({ valid: true });
  const expectRefused = (token: string, reason?: string) => expectError(validate(token), Code.Unauthenticated, reason);

  beforeAll(async () => {
    t = await createTestApp({ session_idle_timeout: `${IDLE}s`, session_absolute_timeout: `${ABSOLUTE}s` });
    admin = await adminLogin(t);
  });
  afterAll(async () => t?.close());

  it("rotates: every refresh returns a new refresh token and a working access token", async () => {
    const u = await newUser(t, { tag: "rotate" });
    const first = await refresh(u.refreshToken);
    expect(first.refreshToken).not.toBe(u.refreshToken);
    expect(first.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await expectAccepted(first.accessToken);
    const second = await refresh(first.refreshToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    await expectAccepted(second.accessToken);
  });

  it("treats a reused refresh token as theft: REFRESH_TOKEN_REUSED and the whole session revoked", async () => {
    const u = await newUser(t, { tag: "reuse" });
    const rotated = await refresh(u.refreshToken);
    await expectError(refresh(u.refreshToken, "another-client"), Code.Unauthenticated, "REFRESH_TOKEN_REUSED");
    await expectRefused(u.accessToken, "SESSION_REVOKED");
    await expectRefused(rotated.accessToken, "SESSION_REVOKED");
    await expectError(refresh(rotated.refreshToken), Code.Unauthenticated);
    const { session } = await t.client(SessionService).getSession({ id: u.sessionId }, admin.auth);
    expect(session).toMatchObject({ active: false, revokeReason: "refresh_token_reuse" });
  });

  it("lets exactly one of several parallel refreshes of one token by different clients succeed", async () => {
    const u = await newUser(t, { tag: "race" });
    const results = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => refresh(u.refreshToken, `client-${i}`)));
    expect(tally(results)).toEqual({ ok: 1, Unauthenticated: 3 });
  });

  it("gives one client's parallel refreshes of one token the same new refresh token: one rotation, the session kept", async () => {
    const u = await newUser(t, { tag: "race-same" });
    const results = await Promise.all(Array.from({ length: 4 }, () => refresh(u.refreshToken)));
    expect(new Set(results.map((r) => r.refreshToken)).size).toBe(1);
    await expectAccepted(results[3]!.accessToken);
    // The token they share is an ordinary refresh token: it rotates once more.
    await expect(refresh(results[0]!.refreshToken)).resolves.toMatchObject({ refreshToken: expect.not.stringMatching(results[0]!.refreshToken) });
  });

  it("revokes the session when the same client presents a used token after the grace window", async () => {
    const u = await newUser(t, { tag: "reuse-late" });
    await refresh(u.refreshToken);
    t.clock.advance(t.config.refresh_reuse_grace);
    await expectError(refresh(u.refreshToken), Code.Unauthenticated, "REFRESH_TOKEN_REUSED");
    await expectRefused(u.accessToken, "SESSION_REVOKED");
  });

  it.each([
    ["an unknown token", "A".repeat(43)],
    ["a malformed token", "not a refresh token"],
    ["an empty token", ""],
  ])("refuses %s with REFRESH_TOKEN_INVALID", async (_name, token) => {
    await expectError(refresh(token), Code.Unauthenticated, "REFRESH_TOKEN_INVALID");
  });

  it("refuses an access token presented as a refresh token", async () => {
    const u = await newUser(t, { tag: "swap" });
    await expectError(refresh(u.accessToken), Code.Unauthenticated, "REFRESH_TOKEN_INVALID");
  });

  it("refuses the access and refresh tokens at once after Logout", async () => {
    const u = await newUser(t, { tag: "logout" });
    await expectAccepted(u.accessToken); // now cached
    await auth().logout({}, u.auth);
    await expectRefused(u.accessToken, "SESSION_REVOKED");
    await expectError(refresh(u.refreshToken), Code.Unauthenticated);
    await expectError(auth().logout({}, u.auth), Code.Unauthenticated);
  });

  it("refuses a session's access token at once after RevokeSession, by its user or by an admin", async () => {
    const u = await newUser(t, { tag: "revoke" });
    const other = await login(t, u.email, u.password);
    const third = await login(t, u.email, u.password);
    await Promise.all([expectAccepted(other.accessToken), expectAccepted(third.accessToken)]);
    await t.client(SessionService).revokeSession({ id: other.sessionId }, u.auth);
    await expectRefused(other.accessToken, "SESSION_REVOKED");
    await t.client(SessionService).revokeSession({ id: third.sessionId }, admin.auth);
    await expectRefused(third.accessToken, "SESSION_REVOKED");
    await expectAccepted(u.accessToken);
  });

  describe("session bearer (AuthenticateLocal)", () => {
    it("works as a Bearer credential", async () => {
      const u = await newUser(t, { tag: "local" });
      const sessionBearer = await localSession(t, u.email, u.password);
      expect(sessionBearer).toMatch(/^wds_[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$/);
      const r = await validate(sessionBearer);
      expect(r).toMatchObject({ valid: true, userId: u.userId });
      expect(r.session?.authMethod).toBe("password_local");
    });

    it("refuses a tampered secret, a tampered id and a malformed bearer", async () => {
      const u = await newUser(t, { tag: "tamper" });
      const sessionBearer = await localSession(t, u.email, u.password);
      await expectAccepted(sessionBearer); // cached: the secret must still be checked
      const [id, secret] = sessionBearer.slice(4).split(".") as [string, string];
      /** Changes the character at i to another one of the same alphabet. */
      const flip = (s: string, i: number, alphabet = "AB") => s.slice(0, i) + (s[i] === alphabet[0] ? alphabet[1] : alphabet[0]) + s.slice(i + 1);
      await expectRefused(`wds_${id}.${flip(secret, 0)}`, "SESSION_NOT_FOUND");
      await expectRefused(`wds_${id}.${flip(secret, secret.length - 1)}`, "SESSION_NOT_FOUND");
      await expectRefused(`wds_${flip(id, 5, "0f")}.${secret}`);
      await expectRefused(`wds_${id}.${secret}x`, "SESSION_MALFORMED");
      await expectRefused(`wds_${id}`, "SESSION_MALFORMED");
      await expectRefused(`wds_${u.sessionId}.${secret}`, "SESSION_NOT_FOUND");
    });

    it("is refused after its session is revoked", async () => {
      const u = await newUser(t, { tag: "local-revoke" });
      const sessionBearer = await localSession(t, u.email, u.password);
      await auth().logout({}, bearer(sessionBearer));
      await expectRefused(sessionBearer, "SESSION_REVOKED");
    });
  });

  describe("timeouts (idle 10 min, absolute 30 min; the session cache lives 5 s)", () => {
    it("ends a session left idle longer than the idle timeout, for the bearer and for refresh", async () => {
      const u = await newUser(t, { tag: "idle" });
      const sessionBearer = await localSession(t, u.email, u.password);
      t.clock.advance(IDLE - 60);
      await expectAccepted(sessionBearer); // activity moves last-seen forward
      t.clock.advance(IDLE - 60);
      await expectAccepted(sessionBearer);
      t.clock.advance(IDLE + 1);
      await expectRefused(sessionBearer, "SESSION_IDLE_TIMEOUT");
      // The password session was idle all along.
      await expectError(refresh(u.refreshToken), Code.Unauthenticated, "SESSION_IDLE_TIMEOUT");
    });

    it("ends an active session at the absolute timeout", async () => {
      const u = await newUser(t, { tag: "absolute" });
      const sessionBearer = await localSession(t, u.email, u.password);
      let refreshToken = u.refreshToken;
      for (let elapsed = 0; elapsed + 500 < ABSOLUTE; elapsed += 500) {
        t.clock.advance(500);
        await expectAccepted(sessionBearer);
        refreshToken = (await refresh(refreshToken)).refreshToken;
      }
      t.clock.advance(500);
      await expectRefused(sessionBearer, "SESSION_EXPIRED");
      await expectError(refresh(refreshToken), Code.Unauthenticated, "SESSION_EXPIRED");
    });
  });

  describe("ChangePassword", () => {
    const NEW_PASSWORD = "granite-Willow-lantern-5820";

    it("revokes the user's other sessions at once and keeps the current one", async () => {
      const current = await newUser(t, { tag: "change" });
      const others = [await login(t, current.email, current.password), await login(t, current.email, current.password)];
      const bystander = await newUser(t, { tag: "bystander" });
      await Promise.all(others.map((o) => expectAccepted(o.accessToken)));

      const r = await auth().changePassword({ currentPassword: current.password, newPassword: NEW_PASSWORD }, current.auth);
      expect(r.revokedSessions).toBe(2);
      await expectAccepted(current.accessToken);
      await expect(refresh(current.refreshToken)).resolves.toBeDefined();
      for (const o of others) {
        await expectRefused(o.accessToken, "SESSION_REVOKED");
        await expectError(refresh(o.refreshToken), Code.Unauthenticated);
      }
      await expectAccepted(bystander.accessToken);
      await expectError(login(t, current.email, current.password), Code.Unauthenticated, "INVALID_CREDENTIALS");
      await expect(login(t, current.email, NEW_PASSWORD)).resolves.toMatchObject({ userId: current.userId });
    });

    it("refuses a wrong current password with INVALID_ARGUMENT and changes nothing", async () => {
      const u = await newUser(t, { tag: "change-wrong" });
      const other = await login(t, u.email, u.password);
      await expectError(
        auth().changePassword({ currentPassword: "Not-the-password-42", newPassword: NEW_PASSWORD }, u.auth),
        Code.InvalidArgument,
        "CURRENT_PASSWORD_WRONG",
      );
      await expectAccepted(other.accessToken);
      await expect(login(t, u.email, u.password)).resolves.toMatchObject({ userId: u.userId });
    });

    it("refuses the same password again", async () => {
      const u = await newUser(t, { tag: "change-same" });
      await expectError(auth().changePassword({ currentPassword: u.password, newPassword: u.password }, u.auth), Code.InvalidArgument);
    });

    it("needs a credential", async () => {
      await expectError(auth().changePassword({ currentPassword: "whatever-it-is", newPassword: NEW_PASSWORD }), Code.Unauthenticated);
    });
  });
});
