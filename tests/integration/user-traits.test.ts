import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { decodeCertificate } from "../../src/crypto/ssh/ssh-certificate.js";
import { adminLogin, login, newUser, type SignedIn } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";
import { uniqueEmail } from "../helpers/unique.js";

const run = promisify(execFile);
const traits = (t: Record<string, string[]>) => ({ values: Object.fromEntries(Object.entries(t).map(([k, values]) => [k, { values }])) });

/** Usernames beside email, traits, and role templates ({{internal.logins}}) in SSH certificates. */
describe("usernames, traits and role templates", () => {
  let t: TestApp;
  let admin: SignedIn;
  let dir: string;
  let publicKey: string;
  const users = () => t.client(UserService);

  beforeAll(async () => {
    t = await createTestApp();
    admin = await adminLogin(t);
    const rules = [{ resources: ["session"], verbs: ["get"], effect: 1 }];
    await t
      .client(RoleService)
      .createRole({ role: { name: "dev-ssh", description: "logins from traits", rules, logins: ["{{internal.logins}}", "shared"] } }, admin.auth);
    dir = mkdtempSync(join(tmpdir(), "warden-traits-"));
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "key")]);
    publicKey = readFileSync(join(dir, "key.pub"), "utf8");
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  it("creates a user with a unique username and traits; GetUser finds them by id, username or email", async () => {
    const email = uniqueEmail("ann");
    const { user } = await users().createUser(
      { email, password: STRONG_PASSWORD, username: "Ann.Lee", traits: traits({ logins: ["ann", "deploy"] }) },
      admin.auth,
    );
    expect(user).toMatchObject({ username: "ann.lee", loginAlias: "ann.lee" });
    expect(user!.traits.logins?.values).toEqual(["ann", "deploy"]);
    for (const req of [{ id: user!.id }, { name: "ANN.LEE" }, { name: email }])
      expect((await users().getUser(req, admin.auth)).user).toMatchObject({ id: user!.id, username: "ann.lee" });
    await expectError(
      users().createUser({ email: uniqueEmail("ann2"), password: STRONG_PASSWORD, username: "ann.lee" }, admin.auth),
      Code.AlreadyExists,
      "LOGIN_ALIAS_TAKEN",
    );
    await expectError(users().getUser({}, admin.auth), Code.InvalidArgument);
    await expectError(users().getUser({ name: "nobody-here" }, admin.auth), Code.NotFound, "USER_NOT_FOUND");
    // Another user sees no stranger, by name or otherwise.
    const other = await newUser(t, { tag: "stranger" });
    await expectError(users().getUser({ name: "ann.lee" }, other.auth), Code.NotFound, "USER_NOT_FOUND");
  });

  it("UpdateUser replaces traits and sets the username (one field with login_alias); bad traits are refused", async () => {
    const u = await newUser(t, { tag: "traits" });
    const updated = await users().updateUser({ id: u.userId, username: "tra.its", traits: traits({ logins: ["a", "b", "a"], team: ["core"] }) }, admin.auth);
    expect(updated.user).toMatchObject({ username: "tra.its" });
    expect(updated.user!.traits.logins?.values).toEqual(["a", "b"]);
    expect(Object.keys((await users().updateUser({ id: u.userId, traits: traits({ team: ["edge"] }) }, admin.auth)).user!.traits)).toEqual(["team"]);
    await expectError(users().updateUser({ id: u.userId, username: "x1", loginAlias: "x2" }, admin.auth), Code.InvalidArgument);
    const bads: Record<string, string[]>[] = [
      { "Bad Name": ["x"] },
      { logins: Array.from({ length: 65 }, (_, i) => `l${i}`) },
      { logins: ["line\nbreak"] },
      { logins: [""] },
    ];
    for (const bad of bads) await expectError(users().updateUser({ id: u.userId, traits: traits(bad) }, admin.auth), Code.InvalidArgument);
    // Only admins edit users.
    await expectError(users().updateUser({ id: u.userId, traits: traits({}) }, u.auth), Code.PermissionDenied);
  });

  it("fills {{internal.logins}} from the user's traits in the certificate, at once after a change; invalid values are left out", async () => {
    const email = uniqueEmail("dev");
    const { user } = await users().createUser(
      { email, password: STRONG_PASSWORD, roles: ["dev-ssh"], traits: traits({ logins: ["alice", "Not A Login", "root;id"] }) },
      admin.auth,
    );
    const dev = await login(t, email, STRONG_PASSWORD);
    const principals = async () => decodeCertificate((await t.client(AuthService).issueUserCerts({ publicKey }, dev.auth)).sshCertificate).principals;
    expect(await principals()).toEqual(["alice", "shared"]);
    await users().updateUser({ id: user!.id, traits: traits({ logins: ["bob", "carol"] }) }, admin.auth);
    expect(await principals()).toEqual(["bob", "carol", "shared"]);
    await users().updateUser({ id: user!.id, traits: traits({}) }, admin.auth);
    expect(await principals()).toEqual(["shared"]);
  });

  it("accepts only internal templates in a role's logins", async () => {
    const rules = [{ resources: ["session"], verbs: ["get"], effect: 1 }];
    for (const logins of [["{{external.logins}}"], ["{{internal.Logins}}"], ["{{internal.logins}} x"]])
      await expectError(t.client(RoleService).createRole({ role: { name: "bad-template", description: "", rules, logins } }, admin.auth), Code.InvalidArgument);
  });
});
