import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditService } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { queryRows } from "../helpers/database.js";
import { adminLogin, login, newUser, type SignedIn } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp } from "../helpers/test-app.js";
import { bearer, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

/**
 * Every change writes its audit event in the same transaction, or the same statement. A fault
 * injected at one of its writes (a trigger refusing inserts) must leave no part of it behind.
 */
describe("multi-row changes are all-or-nothing", () => {
  let t: TestApp;
  let admin: SignedIn;
  const db = () => t.app.hooks.db;
  const validate = (token: string) => t.client(SessionService).validateSession({}, bearer(token));
  const sessionCount = async (userId: string) =>
    Number((await queryRows<{ n: number }>(db(), sql`select count(*)::int as n from sessions where user_id = ${userId}`))[0]!.n);

  beforeAll(async () => {
    t = await createTestApp();
    admin = await adminLogin(t);
    await db().execute(sql.raw(`create function test_refuse_insert() returns trigger as $$ begin raise exception 'injected fault'; end $$ language plpgsql`));
  });
  afterAll(async () => t?.close());

  /** Runs the call while inserts into `table` (audit events unless named) fail; it must fail as an internal error. */
  async function failsMidway(call: () => Promise<unknown>, table = "audit_events"): Promise<void> {
    await db().execute(sql.raw(`create trigger test_refuse_insert before insert on ${table} for each row execute function test_refuse_insert()`));
    try {
      await expectError(call(), Code.Internal);
    } finally {
      await db().execute(sql.raw(`drop trigger test_refuse_insert on ${table}`));
    }
  }
  const auditCount = async () => Number((await queryRows<{ n: number }>(db(), sql`select count(*)::int as n from audit_events`))[0]!.n);

  it("Register: no user is left without its audit event", async () => {
    const email = uniqueEmail("register");
    await failsMidway(() => t.client(AuthService).register({ email, password: STRONG_PASSWORD }));
    expect(await queryRows(db(), sql`select id from users where email = ${email}`)).toHaveLength(0);
    await expect(t.client(AuthService).register({ email, password: STRONG_PASSWORD })).resolves.toBeDefined();
  });

  it("Login: no session is created", async () => {
    const u = await newUser(t, { tag: "login" });
    await failsMidway(() => login(t, u.email, u.password));
    expect(await sessionCount(u.userId)).toBe(1);
  });

  it.each(["sessions", "refresh_tokens"])("Login: a refused %s insert leaves neither a session nor an audit event", async (table) => {
    const u = await newUser(t, { tag: `login-${table}` });
    const before = await auditCount();
    await failsMidway(() => login(t, u.email, u.password), table);
    expect(await sessionCount(u.userId)).toBe(1);
    expect(await auditCount()).toBe(before);
  });

  it("Refresh: the presented refresh token stays unused, so a retry is not mistaken for reuse", async () => {
    const u = await newUser(t, { tag: "refresh" });
    await failsMidway(() => t.client(AuthService).refresh({ refreshToken: u.refreshToken }));
    const retry = await t.client(AuthService).refresh({ refreshToken: u.refreshToken });
    await expect(validate(retry.accessToken)).resolves.toMatchObject({ valid: true });
  });

  it("ChangePassword: the old password still works and no session is revoked", async () => {
    const u = await newUser(t, { tag: "change" });
    const other = await login(t, u.email, u.password);
    await failsMidway(() => t.client(AuthService).changePassword({ currentPassword: u.password, newPassword: "granite-Willow-lantern-5820" }, u.auth));
    await expect(login(t, u.email, u.password)).resolves.toBeDefined();
    t.clock.advance(10); // past the session cache
    await expect(validate(other.accessToken)).resolves.toMatchObject({ valid: true });
  });

  it.each([
    ["DisableUser", (id: string) => t.client(UserService).disableUser({ id }, admin.auth)],
    ["DeleteUser", (id: string) => t.client(UserService).deleteUser({ id }, admin.auth)],
  ])("%s: the user keeps their account and sessions", async (_name, call) => {
    const u = await newUser(t, { tag: "admin-change" });
    await failsMidway(() => call(u.userId));
    t.clock.advance(10);
    await expect(validate(u.accessToken)).resolves.toMatchObject({ valid: true });
    await expect(t.client(UserService).getUser({ id: u.userId }, admin.auth)).resolves.toMatchObject({ user: { disabled: false } });
  });

  it.each([
    ["Logout", (u: SignedIn) => t.client(AuthService).logout({}, u.auth)],
    ["RevokeSession", (u: SignedIn) => t.client(SessionService).revokeSession({ id: u.sessionId }, u.auth)],
    ["RevokeAllSessionsForUser", (u: SignedIn) => t.client(SessionService).revokeAllSessionsForUser({}, u.auth)],
  ])("%s: the session stays live", async (_name, call) => {
    const u = await newUser(t, { tag: "revoke" });
    await failsMidway(() => call(u));
    t.clock.advance(10);
    await expect(validate(u.accessToken)).resolves.toMatchObject({ valid: true });
  });

  it("leaves the audit chain intact after all those rollbacks", async () => {
    await expect(t.client(AuditService).verifyAuditChain({}, admin.auth)).resolves.toMatchObject({ intact: true });
  });
});
