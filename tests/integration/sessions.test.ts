import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { adminLogin, login, newUser, type SignedIn } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { BAD_PAGE_TOKENS, collectPages } from "../helpers/pages.js";
import { createTestApp } from "../helpers/test-app.js";
import { bearer, type TestApp } from "../helpers/test-app.js";

const NO_SUCH_SESSION = "0123456789abcdef0123456789abcdef";

describe("SessionService", () => {
  let t: TestApp;
  let admin: SignedIn;
  let alice: SignedIn;
  let bob: SignedIn;
  const sessions = () => t.client(SessionService);
  const validate = (token: string) => sessions().validateSession({}, bearer(token));

  beforeAll(async () => {
    t = await createTestApp();
    admin = await adminLogin(t);
    alice = await newUser(t, { tag: "alice" });
    bob = await newUser(t, { tag: "bob" });
  });
  afterAll(async () => t?.close());

  it("lets a user get and list their own sessions", async () => {
    const second = await login(t, alice.email, alice.password);
    const { session } = await sessions().getSession({ id: second.sessionId }, alice.auth);
    expect(session).toMatchObject({ id: second.sessionId, userId: alice.userId, active: true, authMethod: "password" });
    const listed = await sessions().listSessions({}, alice.auth);
    expect(listed.sessions.map((s) => s.id)).toEqual(expect.arrayContaining([alice.sessionId, second.sessionId]));
    expect(listed.sessions.every((s) => s.userId === alice.userId)).toBe(true);
  });

  it("lets a user revoke their own session: listed inactive, gone from the active list", async () => {
    const extra = await login(t, alice.email, alice.password);
    await sessions().revokeSession({ id: extra.sessionId }, alice.auth);
    const all = await sessions().listSessions({}, alice.auth);
    expect(all.sessions.find((s) => s.id === extra.sessionId)).toMatchObject({ active: false, revokeReason: "user_revoked" });
    const active = await sessions().listActiveSessions({}, alice.auth);
    expect(active.sessions.map((s) => s.id)).not.toContain(extra.sessionId);
    expect(active.sessions.map((s) => s.id)).toContain(alice.sessionId);
  });

  it("gives a non-admin the same PERMISSION_DENIED for another user's session and for no session", async () => {
    const calls = [(id: string) => sessions().getSession({ id }, alice.auth), (id: string) => sessions().revokeSession({ id }, alice.auth)];
    for (const call of calls) {
      const foreign = await expectError(call(bob.sessionId), Code.PermissionDenied, "NOT_OWN_SESSION");
      const missing = await expectError(call(NO_SUCH_SESSION), Code.PermissionDenied, "NOT_OWN_SESSION");
      expect(missing.rawMessage).toBe(foreign.rawMessage);
    }
    await expect(validate(bob.accessToken)).resolves.toMatchObject({ valid: true });
  });

  it("refuses a non-admin another user's session lists and revoke-all", async () => {
    await expectError(sessions().listSessions({ userId: bob.userId }, alice.auth), Code.PermissionDenied);
    await expectError(sessions().listActiveSessions({ userId: bob.userId }, alice.auth), Code.PermissionDenied);
    await expectError(sessions().revokeAllSessionsForUser({ userId: bob.userId }, alice.auth), Code.PermissionDenied);
    await expect(validate(bob.accessToken)).resolves.toMatchObject({ valid: true });
  });

  it("lets an admin see and end anyone's sessions; a missing one is NOT_FOUND for them", async () => {
    const victim = await newUser(t, { tag: "victim" });
    await expect(sessions().getSession({ id: victim.sessionId }, admin.auth)).resolves.toMatchObject({ session: { userId: victim.userId } });
    const listed = await sessions().listSessions({ userId: victim.userId }, admin.auth);
    expect(listed.sessions.map((s) => s.id)).toEqual([victim.sessionId]);
    await expectError(sessions().getSession({ id: NO_SUCH_SESSION }, admin.auth), Code.NotFound);
    await sessions().revokeSession({ id: victim.sessionId }, admin.auth);
    await expectError(validate(victim.accessToken), Code.Unauthenticated, "SESSION_REVOKED");
    const { session } = await sessions().getSession({ id: victim.sessionId }, admin.auth);
    expect(session?.revokeReason).toBe("admin_revoked");
  });

  it("answers INVALID_ARGUMENT, not INTERNAL, for an id the database cannot hold (NUL)", async () => {
    await expectError(sessions().getSession({ id: "abc\u0000def" }, admin.auth), Code.InvalidArgument, "INVALID_ARGUMENT");
  });

  it("revokes all of a user's sessions, keeping the caller's own when asked", async () => {
    const u = await newUser(t, { tag: "revoke-all" });
    const others = [await login(t, u.email, u.password), await login(t, u.email, u.password)];
    const r = await sessions().revokeAllSessionsForUser({ keepCurrent: true }, u.auth);
    expect(r.revokedCount).toBe(2);
    await expect(validate(u.accessToken)).resolves.toMatchObject({ valid: true });
    for (const o of others) await expectError(validate(o.accessToken), Code.Unauthenticated);
    const byAdmin = await sessions().revokeAllSessionsForUser({ userId: u.userId, keepCurrent: true }, admin.auth);
    expect(byAdmin.revokedCount).toBe(1);
    await expectError(validate(u.accessToken), Code.Unauthenticated, "SESSION_REVOKED");
  });

  describe("pagination", () => {
    let many: SignedIn;
    let allIds: string[];

    beforeAll(async () => {
      many = await newUser(t, { tag: "many" });
      // Some sessions share a creation instant (ties broken by id), some do not.
      for (let i = 0; i < 8; i++) {
        if (i % 3 === 0) t.clock.advance(1);
        await login(t, many.email, many.password);
      }
      allIds = (await sessions().listSessions({ pageSize: 500 }, many.auth)).sessions.map((s) => s.id);
    });

    it("lists newest first", async () => {
      expect(allIds).toHaveLength(9);
      expect(allIds[allIds.length - 1]).toBe(many.sessionId);
    });

    it.each([1, 2, 3, 4, 9])("covers every row exactly once with page_size %i", async (pageSize) => {
      const { ids } = await collectPages(
        async (pageToken) => {
          const r = await sessions().listSessions({ pageSize, pageToken }, many.auth);
          return { items: r.sessions, nextPageToken: r.nextPageToken };
        },
        (s) => s.id,
        pageSize,
      );
      expect(ids).toEqual(allIds);
    });

    it("refuses a negative page_size", async () => {
      await expectError(sessions().listSessions({ pageSize: -1 }, many.auth), Code.InvalidArgument);
    });

    it.each(BAD_PAGE_TOKENS)("refuses a page_token that is %s with INVALID_ARGUMENT", async (_name, pageToken) => {
      await expectError(sessions().listSessions({ pageToken }, many.auth), Code.InvalidArgument);
      await expectError(sessions().listActiveSessions({ pageToken }, many.auth), Code.InvalidArgument);
    });
  });
});
