import { beforeAll, describe, expect, it } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Effect, RuleSchema } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import type { RoleRule } from "../../src/db/schema/index.js";
import type { UserPrincipal } from "../../src/domain/principal.js";
import { evaluateRules } from "../../src/domain/rbac/rules.js";
import { allPages, denied, outcome, useTenancyWorld, type Caller } from "../helpers/tenancy-world.js";

type RuleInit = MessageInitShape<typeof RuleSchema>;
const allow = (resources: string[], verbs: string[]): RoleRule => ({ resources, verbs, effect: "allow" });
const deny = (resources: string[], verbs: string[]): RoleRule => ({ resources, verbs, effect: "deny" });

describe("evaluateRules: allow when some rule allows and none denies", () => {
  const readNodes = allow(["node"], ["read", "list"]);
  const everything = allow(["*"], ["*"]);
  const noDelete = deny(["*"], ["delete"]);
  const noRecordings = deny(["session_recording"], ["*"]);
  it.for<[string, RoleRule[], string, string, boolean]>([
    ["no rules", [], "node", "read", false],
    ["a matching allow", [readNodes], "node", "list", true],
    ["an allow of another verb", [readNodes], "node", "delete", false],
    ["an allow of another resource", [readNodes], "lock", "read", false],
    ["wildcards", [everything], "anything", "whatever", true],
    ["a deny after an allow", [everything, noDelete], "node", "delete", false],
    ["a deny before an allow", [noDelete, everything], "node", "delete", false],
    ["a deny of another verb", [everything, noDelete], "node", "update", true],
    ["a resource-wide deny", [readNodes, everything, noRecordings], "session_recording", "read", false],
    ["a deny with no allow", [noDelete], "node", "read", false],
  ])("%s", ([, rules, resource, verb, expected]) => {
    const result = evaluateRules(rules, resource, verb);
    expect(result.allowed).toBe(expected);
    // A refusal by a deny names the deny rule.
    if (result.deniedBy) expect(result.deniedBy.effect).toBe("deny");
  });

  it("names the deny that decided", () => {
    expect(evaluateRules([allow(["*"], ["*"]), noRecordings], "session_recording", "read").deniedBy).toBe(noRecordings);
  });
});

describe("RBAC roles", () => {
  const w = useTenancyWorld();
  let sysadmin: Caller;
  let user: Caller;
  beforeAll(async () => {
    [sysadmin, user] = await Promise.all([w.admin(), w.user("rbac-user")]);
  });

  const rule = (resources: string[], verbs: string[], effect = Effect.ALLOW): RuleInit => ({ resources, verbs, effect });
  const createRole = (name: string, rules: RuleInit[], as = sysadmin.as) => w.roles.createRole({ role: { name, description: name, rules } }, as);
  const updateRole = (name: string, rules: RuleInit[], as = sysadmin.as) => w.roles.updateRole({ role: { name, description: name, rules } }, as);
  /** The principal the server builds for a token now: roles and admin flag as they are stored now. */
  const principalOf = async (caller: Caller) => (await w.t.app.authenticator.authenticate(caller.token)) as UserPrincipal;

  describe("RoleService access", () => {
    it("writes are for system admins only; an admin-scope API key is refused too", async () => {
      await createRole("writes-target", [rule(["node"], ["read"])]);
      const org = await w.org(user);
      const key = await w.apiKey(user.as, org.id, [ApiKeyScope.ADMIN]);
      for (const as of [user.as, key.as]) {
        const attempts = [
          createRole("by-user", [rule(["*"], ["*"])], as),
          updateRole("writes-target", [rule(["*"], ["*"])], as),
          w.roles.deleteRole({ name: "writes-target" }, as),
        ];
        expect(await Promise.all(attempts.map(outcome))).toEqual(attempts.map(() => denied("ADMIN_REQUIRED")));
      }
      const kept = await w.roles.getRole({ name: "writes-target" }, user.as);
      expect(kept.role?.rules.map((r) => [r.resources, r.verbs])).toEqual([[["node"], ["read"]]]);
    });

    it("reads are for any authenticated caller, never anonymous", async () => {
      const org = await w.org(user);
      const key = await w.apiKey(user.as, org.id, [ApiKeyScope.READ]);
      for (const as of [user.as, key.as]) {
        expect(await outcome(w.roles.getRole({ name: "admin" }, as))).toBe("OK");
        expect(await outcome(w.roles.listRoles({}, as))).toBe("OK");
      }
      expect(await outcome(w.roles.getRole({ name: "admin" }))).toMatch(/^Unauthenticated:/);
      expect(await outcome(w.roles.listRoles({}))).toMatch(/^Unauthenticated:/);
    });
  });

  describe("role lifecycle", () => {
    it("the built-in admin role can be neither changed nor deleted nor recreated", async () => {
      const admin = await w.roles.getRole({ name: "admin" }, user.as);
      expect(admin.role?.builtin).toBe(true);
      expect(await outcome(updateRole("admin", [rule(["node"], ["read"])]))).toBe("FailedPrecondition:ROLE_BUILTIN");
      expect(await outcome(w.roles.deleteRole({ name: "admin" }, sysadmin.as))).toBe("FailedPrecondition:ROLE_BUILTIN");
      expect(await outcome(createRole("admin", [rule(["node"], ["read"])]))).toBe("AlreadyExists:ROLE_EXISTS");
      expect((await w.roles.getRole({ name: "admin" }, user.as)).role?.rules).toEqual(admin.role?.rules);
    });

    it("validates names and rules; unknown roles are NOT_FOUND", async () => {
      const bad = "InvalidArgument:INVALID_ARGUMENT";
      expect(await outcome(createRole("Bad Name", [rule(["node"], ["read"])]))).toBe(bad);
      expect(await outcome(createRole("no-rules", []))).toBe(bad);
      expect(await outcome(createRole("no-effect", [rule(["node"], ["read"], Effect.UNSPECIFIED)]))).toBe(bad);
      expect(await outcome(createRole("bad-verb", [rule(["node"], ["READ ALL"])]))).toBe(bad);
      expect(await outcome(w.roles.createRole({}, sysadmin.as))).toBe(bad);
      expect(await outcome(updateRole("no-such-role", [rule(["node"], ["read"])]))).toBe("NotFound:ROLE_NOT_FOUND");
      expect(await outcome(w.roles.deleteRole({ name: "no-such-role" }, sysadmin.as))).toBe("NotFound:ROLE_NOT_FOUND");
      expect(await outcome(w.roles.getRole({ name: "no-such-role" }, user.as))).toBe("NotFound:ROLE_NOT_FOUND");
    });

    it("create, update, list with pages, delete", async () => {
      const names = ["life-a", "life-b", "life-c", "life-d"];
      for (const name of names) await createRole(name, [rule(["node"], ["read"])]);
      expect(await outcome(createRole("life-a", [rule(["node"], ["read"])]))).toBe("AlreadyExists:ROLE_EXISTS");
      const updated = await updateRole("life-b", [rule(["node"], ["*"]), rule(["node"], ["delete"], Effect.DENY)]);
      expect(updated.role?.rules.map((r) => r.effect)).toEqual([Effect.ALLOW, Effect.DENY]);
      const { items } = await allPages(async (pageToken) => {
        const r = await w.roles.listRoles({ pageSize: 2, pageToken }, user.as);
        return { items: r.roles, next: r.nextPageToken };
      }, 2);
      const listed = items.map((r) => r.name);
      expect(new Set(listed).size).toBe(listed.length);
      expect(listed).toEqual(expect.arrayContaining(["admin", ...names]));
      await w.roles.deleteRole({ name: "life-c" }, sysadmin.as);
      expect(await outcome(w.roles.getRole({ name: "life-c" }, user.as))).toBe("NotFound:ROLE_NOT_FOUND");
    });
  });

  describe("assignment and evaluation", () => {
    it("UpdateUser refuses unknown or malformed role names", async () => {
      for (const roles of [["no-such-role"], ["Not A Name"]]) {
        const result = await outcome(w.users.updateUser({ id: user.id, roles, updateRoles: true }, sysadmin.as));
        expect(result).toMatch(/^InvalidArgument:/);
      }
      expect(await outcome(w.users.updateUser({ id: user.id, roles: ["no-such-role"], updateRoles: true }, sysadmin.as))).toBe("InvalidArgument:ROLE_UNKNOWN");
      expect((await w.users.getUser({ id: user.id }, user.as)).user?.roles).toEqual([]);
    });

    it("roles.allowed: deny wins across roles; admins are always allowed", async () => {
      await createRole("ops", [rule(["*"], ["*"])]);
      await createRole("no-recordings", [rule(["session_recording"], ["*"], Effect.DENY)]);
      const principal = (roles: string[], admin = false): UserPrincipal => ({
        kind: "user",
        userId: user.id,
        sessionId: "",
        admin,
        roles,
        credential: "access_token",
      });
      const allowed = (p: UserPrincipal, resource: string, verb: string) => w.t.app.roles.allowed(p, resource, verb);
      expect(await allowed(principal(["ops"]), "session_recording", "read")).toBe(true);
      expect(await allowed(principal(["ops", "no-recordings"]), "session_recording", "read")).toBe(false);
      expect(await allowed(principal(["ops", "no-recordings"]), "node", "delete")).toBe(true);
      expect(await allowed(principal([]), "node", "read")).toBe(false);
      expect(await allowed(principal(["deleted-or-unknown"]), "node", "read")).toBe(false);
      expect(await allowed(principal([], true), "session_recording", "delete")).toBe(true);
    });

    it("role assignments and role rules take effect on the user's next check, without a new login", async () => {
      const ana = await w.user("rbac-ana");
      await createRole("auditor", [rule(["session_recording"], ["read", "list"])]);
      const check = async () => w.t.app.roles.allowed(await principalOf(ana), "session_recording", "read");
      expect(await check()).toBe(false);

      const assigned = await w.users.updateUser({ id: ana.id, roles: ["auditor"], updateRoles: true }, sysadmin.as);
      expect(assigned.user?.roles).toEqual(["auditor"]);
      expect([(await principalOf(ana)).roles, await check()]).toEqual([["auditor"], true]);

      await updateRole("auditor", [rule(["session_recording"], ["list"])]);
      expect(await check()).toBe(false);
      await updateRole("auditor", [rule(["*"], ["*"]), rule(["session_recording"], ["read"], Effect.DENY)]);
      expect(await check()).toBe(false);
      await updateRole("auditor", [rule(["*"], ["*"])]);
      expect(await check()).toBe(true);

      await w.users.updateUser({ id: ana.id, roles: [], updateRoles: true }, sysadmin.as);
      expect([(await principalOf(ana)).roles, await check()]).toEqual([[], false]);
    });

    it("the admin flag set or cleared by UpdateUser applies to the user's next call", async () => {
      const ben = await w.user("rbac-ben");
      const foreign = await w.org(user);
      const adminCalls = () => Promise.all([outcome(w.users.listUsers({}, ben.as)), outcome(w.orgs.getOrganization({ id: foreign.id }, ben.as))]);
      expect(await adminCalls()).toEqual([denied("ADMIN_REQUIRED"), denied("ORGANIZATION_ROLE_REQUIRED")]);
      await w.users.updateUser({ id: ben.id, admin: true }, sysadmin.as);
      expect(await adminCalls()).toEqual(["OK", "OK"]);
      expect(await outcome(w.users.updateUser({ id: ben.id, admin: false }, ben.as))).toBe("FailedPrecondition:CANNOT_DEMOTE_SELF");
      await w.users.updateUser({ id: ben.id, admin: false }, sysadmin.as);
      expect(await adminCalls()).toEqual([denied("ADMIN_REQUIRED"), denied("ORGANIZATION_ROLE_REQUIRED")]);
    });
  });
});
