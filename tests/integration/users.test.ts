import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { Effect, RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { queryRows } from "../helpers/database.js";
import { adminLogin, localSession, login, newUser, type SignedIn } from "../helpers/accounts.js";
import { expectError, violatedFields } from "../helpers/expect-error.js";
import { BAD_PAGE_TOKENS, collectPages, NON_UUID_USER_CURSOR } from "../helpers/pages.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const NO_SUCH_USER = "00000000-0000-4000-8000-000000000000";

describe("UserService", () => {
  let t: TestApp;
  let admin: SignedIn;
  let member: SignedIn;
  const users = () => t.client(UserService);
  const validate = (token: string) => t.client(SessionService).validateSession({}, bearer(token));

  beforeAll(async () => {
    t = await createTestApp();
    admin = await adminLogin(t);
    member = await newUser(t, { tag: "member" });
    const rules = [{ resources: ["session"], verbs: ["get"], effect: Effect.ALLOW }];
    for (const name of ["ops", "dev", "qa"]) await t.client(RoleService).createRole({ role: { name, description: name, rules } }, admin.auth);
  });
  afterAll(async () => t?.close());

  /** Every administrative call, aimed at `target`, as a call with the given options. */
  const adminCalls = (target: () => string): [string, (opts?: { headers: Record<string, string> }) => Promise<unknown>][] => [
    ["CreateUser", (o) => users().createUser({ email: uniqueEmail("created"), password: STRONG_PASSWORD }, o)],
    ["UpdateUser", (o) => users().updateUser({ id: target(), admin: true }, o)],
    ["DeleteUser", (o) => users().deleteUser({ id: target() }, o)],
    ["DisableUser", (o) => users().disableUser({ id: target() }, o)],
    ["EnableUser", (o) => users().enableUser({ id: target() }, o)],
    ["ListUsers", (o) => users().listUsers({}, o)],
  ];

  describe("access", () => {
    let target: SignedIn;
    beforeAll(async () => {
      target = await newUser(t, { tag: "target" });
    });

    it.each(adminCalls(() => target.userId))("%s refuses a non-admin with PERMISSION_DENIED and changes nothing", async (_name, call) => {
      await expectError(call(member.auth), Code.PermissionDenied, "PERMISSION_REQUIRED");
      const { user } = await users().getUser({ id: target.userId }, admin.auth);
      expect(user).toMatchObject({ admin: false, disabled: false });
      await expect(validate(target.accessToken)).resolves.toMatchObject({ valid: true });
    });

    const reads: [string, () => Promise<unknown>][] = [
      ["GetUser", () => users().getUser({ id: target.userId })],
      ["GetUserByEmail", () => users().getUserByEmail({ email: target.email })],
    ];
    it.each([...adminCalls(() => target.userId), ...reads])("%s refuses a caller with no credential: UNAUTHENTICATED", async (_name, call) => {
      await expectError(call(), Code.Unauthenticated);
    });

    it("lets a signed-in user read themselves by id or email, and tells them nothing of users they share no organization with", async () => {
      await expect(users().getUser({ id: member.userId }, member.auth)).resolves.toMatchObject({ user: { email: member.email } });
      await expect(users().getUserByEmail({ email: member.email.toUpperCase() }, member.auth)).resolves.toMatchObject({ user: { id: member.userId } });
      await expectError(users().getUser({ id: target.userId }, member.auth), Code.NotFound, "USER_NOT_FOUND");
      await expectError(users().getUserByEmail({ email: target.email }, member.auth), Code.NotFound, "USER_NOT_FOUND");
      await expectError(users().getUser({ id: NO_SUCH_USER }, member.auth), Code.NotFound);
      const malformed = await expectError(users().getUser({ id: "not-a-uuid" }, member.auth), Code.InvalidArgument, "INVALID_ARGUMENT");
      expect(violatedFields(malformed)).toEqual(["id"]);
    });
  });

  describe("administration", () => {
    it("creates, reads and updates a user", async () => {
      const email = uniqueEmail("crud");
      const { user } = await users().createUser(
        { email: email.toUpperCase(), password: STRONG_PASSWORD, displayName: "Crud", roles: ["ops", "dev"] },
        admin.auth,
      );
      expect(user).toMatchObject({ email, displayName: "Crud", roles: ["ops", "dev"], admin: false, disabled: false });
      await expect(login(t, email, STRONG_PASSWORD)).resolves.toMatchObject({ userId: user!.id });

      const updated = await users().updateUser({ id: user!.id, displayName: "Renamed", roles: ["auditor"], updateRoles: true }, admin.auth);
      expect(updated.user).toMatchObject({ displayName: "Renamed", roles: ["auditor"] });
      const untouched = await users().updateUser({ id: user!.id, displayName: "Again" }, admin.auth);
      expect(untouched.user?.roles).toEqual(["auditor"]);
      await expect(users().getUser({ id: user!.id }, admin.auth)).resolves.toMatchObject({ user: { displayName: "Again", roles: ["auditor"] } });
    });

    it("refuses duplicates, weak passwords, bad or unknown roles and unknown users", async () => {
      await expectError(users().createUser({ email: member.email.toUpperCase(), password: STRONG_PASSWORD }, admin.auth), Code.AlreadyExists, "EMAIL_TAKEN");
      await expectError(users().createUser({ email: uniqueEmail("weak"), password: "password123" }, admin.auth), Code.InvalidArgument, "PASSWORD_TOO_WEAK");
      await expectError(users().createUser({ email: uniqueEmail("roles"), roles: ["Bad Role!"] }, admin.auth), Code.InvalidArgument);
      await expectError(users().createUser({ email: uniqueEmail("roles"), roles: ["no-such-role"] }, admin.auth), Code.InvalidArgument);
      await expectError(users().updateUser({ id: member.userId, roles: ["x\r\ny"], updateRoles: true }, admin.auth), Code.InvalidArgument);
      await expectError(users().updateUser({ id: NO_SUCH_USER, displayName: "x" }, admin.auth), Code.NotFound);
    });

    it("stores a display name with CR LF as given, and refuses NUL (which PostgreSQL cannot store) with INVALID_ARGUMENT", async () => {
      const name = "Mallory\r\nrole: admin\u001b[0m";
      const { user } = await users().createUser({ email: uniqueEmail("ctrl"), displayName: name }, admin.auth);
      await expect(users().getUser({ id: user!.id }, admin.auth)).resolves.toMatchObject({ user: { displayName: name } });
      const nul = "Mallory\u0000admin";
      await expectError(users().updateUser({ id: user!.id, displayName: nul }, admin.auth), Code.InvalidArgument);
      await expectError(users().createUser({ email: uniqueEmail("nul"), displayName: nul }, admin.auth), Code.InvalidArgument);
      await expectError(t.client(AuthService).register({ email: uniqueEmail("nul"), password: STRONG_PASSWORD, displayName: nul }), Code.InvalidArgument);
    });

    it("creates a user without a password who cannot sign in with any password", async () => {
      const email = uniqueEmail("nopass");
      await users().createUser({ email }, admin.auth);
      await expectError(login(t, email, STRONG_PASSWORD), Code.Unauthenticated, "INVALID_CREDENTIALS");
    });

    it("applies a change of the admin flag on the user's next call, not their next login", async () => {
      const u = await newUser(t, { tag: "promoted" });
      await expectError(users().listUsers({}, u.auth), Code.PermissionDenied);
      await users().updateUser({ id: u.userId, admin: true }, admin.auth);
      await expect(users().listUsers({}, u.auth)).resolves.toBeDefined();
      await users().updateUser({ id: u.userId, admin: false }, admin.auth);
      await expectError(users().listUsers({}, u.auth), Code.PermissionDenied, "PERMISSION_REQUIRED");
    });

    it("does not let an admin demote, disable or delete themselves", async () => {
      await expectError(users().updateUser({ id: admin.userId, admin: false }, admin.auth), Code.FailedPrecondition, "CANNOT_DEMOTE_SELF");
      await expectError(users().disableUser({ id: admin.userId }, admin.auth), Code.FailedPrecondition, "CANNOT_DISABLE_SELF");
      await expectError(users().deleteUser({ id: admin.userId }, admin.auth), Code.FailedPrecondition, "CANNOT_DELETE_SELF");
    });

    it("deletes softly: the user is gone, their sessions end, the row stays and the email is free again", async () => {
      const u = await newUser(t, { tag: "deleted" });
      await users().deleteUser({ id: u.userId }, admin.auth);
      await expectError(users().getUser({ id: u.userId }, admin.auth), Code.NotFound);
      await expectError(users().getUserByEmail({ email: u.email }, admin.auth), Code.NotFound);
      await expectError(validate(u.accessToken), Code.Unauthenticated);
      await expectError(login(t, u.email, u.password), Code.Unauthenticated, "INVALID_CREDENTIALS");
      await expectError(users().deleteUser({ id: u.userId }, admin.auth), Code.NotFound);

      const rows = await queryRows<{ deleted: boolean; hash: string | null }>(
        t.app.hooks.db,
        sql`select deleted_at is not null as deleted, password_hash as hash from users where id = ${u.userId}`,
      );
      expect(rows).toEqual([{ deleted: true, hash: null }]);

      const again = await t.client(AuthService).register({ email: u.email, password: STRONG_PASSWORD });
      expect(again.user?.id).not.toBe(u.userId);
      await expect(login(t, u.email, STRONG_PASSWORD)).resolves.toMatchObject({ userId: again.user!.id });
    });
  });

  describe("a disabled user", () => {
    let u: SignedIn;
    let sessionBearer: string;
    let wrongPassword: Awaited<ReturnType<typeof expectError>>;

    beforeAll(async () => {
      u = await newUser(t, { tag: "disabled" });
      sessionBearer = await localSession(t, u.email, u.password);
      await validate(u.accessToken); // cached: disabling must still take effect at once
      wrongPassword = await expectError(login(t, u.email, "Wrong-password-0123"), Code.Unauthenticated);
      const { user } = await users().disableUser({ id: u.userId }, admin.auth);
      expect(user?.disabled).toBe(true);
    });

    it("loses every existing credential at once", async () => {
      await expectError(validate(u.accessToken), Code.Unauthenticated);
      await expectError(validate(sessionBearer), Code.Unauthenticated);
      await expectError(t.client(AuthService).refresh({ refreshToken: u.refreshToken }), Code.Unauthenticated);
    });

    it("gets no new credential from any password path, with the same answer as a wrong password", async () => {
      const auth = t.client(AuthService);
      for (const call of [
        () => auth.login({ email: u.email, password: u.password }),
        () => auth.authenticateLocal({ username: u.email, password: u.password }),
        () => auth.verifyCredentials({ email: u.email, password: u.password }),
      ]) {
        const err = await expectError(call(), Code.Unauthenticated, "INVALID_CREDENTIALS");
        expect(err.rawMessage).toBe(wrongPassword.rawMessage);
      }
    });

    it("can sign in again once enabled, while the old sessions stay ended", async () => {
      const { user } = await users().enableUser({ id: u.userId }, admin.auth);
      expect(user?.disabled).toBe(false);
      await expect(login(t, u.email, u.password)).resolves.toMatchObject({ userId: u.userId });
      await expectError(validate(u.accessToken), Code.Unauthenticated, "SESSION_REVOKED");
    });

    it("cannot refresh an older session even when the disabling left it unrevoked", async () => {
      const v = await newUser(t, { tag: "disabled-in-db" });
      await t.app.hooks.db.execute(sql`update users set disabled = true where id = ${v.userId}`);
      await expectError(t.client(AuthService).refresh({ refreshToken: v.refreshToken }), Code.Unauthenticated, "USER_DISABLED");
      t.clock.advance(10); // past the session cache
      await expectError(validate(v.accessToken), Code.Unauthenticated, "USER_DISABLED");
    });
  });

  describe("ListUsers pagination", () => {
    const prefix = `page-${randomBytes(3).toString("hex")}`;
    let created: string[];
    let inOrder: string[];
    const listUsers =
      (pageSize: number, emailPrefix = "") =>
      async (pageToken: string) => {
        const r = await users().listUsers({ pageSize, pageToken, emailPrefix }, admin.auth);
        return { items: r.users, nextPageToken: r.nextPageToken };
      };

    beforeAll(async () => {
      created = [];
      for (let i = 0; i < 7; i++) {
        if (i % 3 === 0) t.clock.advance(1);
        const { user } = await users().createUser({ email: `${prefix}-${i}@example.test` }, admin.auth);
        created.push(user!.id);
      }
      // Oldest first; users created in the same instant come in id order.
      inOrder = (await users().listUsers({ pageSize: 500, emailPrefix: prefix }, admin.auth)).users.map((u) => u.id);
      expect([...inOrder].sort()).toEqual([...created].sort());
    });

    it.each([1, 2, 3, 7, 50])("covers every user exactly once with page_size %i", async (pageSize) => {
      const { ids } = await collectPages(listUsers(pageSize, prefix), (u) => u.id, pageSize);
      expect(ids).toEqual(inOrder);
    });

    it("walks the whole table without duplicates and without deleted users", async () => {
      const doomed = await users().createUser({ email: `${prefix}-doomed@example.test` }, admin.auth);
      await users().deleteUser({ id: doomed.user!.id }, admin.auth);
      const { ids } = await collectPages(listUsers(4), (u) => u.id, 4);
      expect(ids).toEqual(expect.arrayContaining([admin.userId, member.userId, ...created]));
      expect(ids).not.toContain(doomed.user!.id);
    });

    it.each([...BAD_PAGE_TOKENS, ["a cursor whose id is not a user id", NON_UUID_USER_CURSOR]])(
      "refuses a page_token that is %s with INVALID_ARGUMENT",
      async (_name, pageToken) => {
        await expectError(users().listUsers({ pageToken }, admin.auth), Code.InvalidArgument);
      },
    );
  });
});
