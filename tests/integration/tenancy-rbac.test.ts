import { beforeAll, describe, expect, it } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { Effect, RuleSchema } from "../../gen/warden/rbac/v1/role_service_pb.js";
import type { RoleRule } from "../../src/domain/records.js";
import { evaluateRules } from "../../src/domain/rbac/rules.js";
import { denied, outcome } from "../helpers/expect-error.js";
import { collectPages } from "../helpers/pages.js";
import { useTenancyWorld, type Caller } from "../helpers/tenancy-world.js";

type RuleInit = MessageInitShape<typeof RuleSchema>;
const allow = (resources: string[], verbs: string[]): RoleRule => ({ resources, verbs, effect: "allow" });
const deny = (resources: string[], verbs: string[]): RoleRule => ({ resources, verbs, effect: "deny" });

describe("evaluateRules: allow when some rule allows and none denies", () => {
  const readUsers = allow(["user"], ["get", "list"]);
  const everything = allow(["*"], ["*"]);
  const noDelete = deny(["*"], ["delete"]);
  const noAudit = deny(["audit_log"], ["*"]);
  it.for<[string, RoleRule[], string, string, boolean]>([
    ["no rules", [], "user", "get", false],
    ["a matching allow", [readUsers], "user", "list", true],
    ["an allow of another verb", [readUsers], "user", "delete", false],
    ["an allow of another resource", [readUsers], "role", "get", false],
    ["wildcards", [everything], "anything", "whatever", true],
    ["a deny after an allow", [everything, noDelete], "user", "delete", false],
    ["a deny before an allow", [noDelete, everything], "user", "delete", false],
    ["a deny of another verb", [everything, noDelete], "user", "update", true],
    ["a resource-wide deny", [readUsers, everything, noAudit], "audit_log", "list", false],
    ["a deny with no allow", [noDelete], "user", "get", false],
  ])("%s", ([, rules, resource, verb, expected]) => {
    const result = evaluateRules(rules, resource, verb);
    expect(result.allowed).toBe(expected);
    // A refusal by a deny names the deny rule.
    if (result.deniedBy) expect(result.deniedBy.effect).toBe("deny");
  });

  it("names the deny that decided", () => {
    expect(evaluateRules([allow(["*"], ["*"]), noAudit], "audit_log", "list").deniedBy).toBe(noAudit);
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
  const grant = (caller: Caller, roles: string[]) => w.users.updateUser({ id: caller.id, roles, updateRoles: true }, sysadmin.as);

  describe("RoleService access", () => {
    it("writes need the role permissions; a user without roles and an admin-scope API key are refused", async () => {
      await createRole("writes-target", [rule(["user"], ["get"])]);
      const org = await w.org(user);
      const key = await w.apiKey(user.as, org.id, [ApiKeyScope.ADMIN]);
      for (const as of [user.as, key.as]) {
        const attempts = [
          createRole("by-user", [rule(["*"], ["*"])], as),
          updateRole("writes-target", [rule(["*"], ["*"])], as),
          w.roles.deleteRole({ name: "writes-target" }, as),
        ];
        expect(await Promise.all(attempts.map(outcome))).toEqual(attempts.map(() => denied("PERMISSION_REQUIRED")));
      }
      const kept = await w.roles.getRole({ name: "writes-target" }, user.as);
      expect(kept.role?.rules.map((r) => [r.resources, r.verbs])).toEqual([[["user"], ["get"]]]);
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
    it("the built-in roles exist and can be neither changed nor deleted nor recreated", async () => {
      for (const name of ["admin", "auditor", "user-manager"]) {
        const builtin = await w.roles.getRole({ name }, user.as);
        expect(builtin.role?.builtin, name).toBe(true);
        expect(await outcome(updateRole(name, [rule(["user"], ["get"])]))).toBe("FailedPrecondition:ROLE_BUILTIN");
        expect(await outcome(w.roles.deleteRole({ name }, sysadmin.as))).toBe("FailedPrecondition:ROLE_BUILTIN");
        expect(await outcome(createRole(name, [rule(["user"], ["get"])]))).toBe("AlreadyExists:ROLE_EXISTS");
        expect((await w.roles.getRole({ name }, user.as)).role?.rules).toEqual(builtin.role?.rules);
      }
    });

    it("validates names and rules (known resources and verbs only); unknown roles are NOT_FOUND", async () => {
      const bad = "InvalidArgument:INVALID_ARGUMENT";
      expect(await outcome(createRole("Bad Name", [rule(["user"], ["get"])]))).toBe(bad);
      expect(await outcome(createRole("no-rules", []))).toBe(bad);
      expect(await outcome(createRole("no-effect", [rule(["user"], ["get"], Effect.UNSPECIFIED)]))).toBe(bad);
      expect(await outcome(createRole("bad-verb", [rule(["user"], ["READ ALL"])]))).toBe(bad);
      // A rule that can never match decides nothing: refused rather than stored.
      expect(await outcome(createRole("unknown-resource", [rule(["nodes"], ["get"])]))).toBe(bad);
      expect(await outcome(createRole("verb-of-another", [rule(["audit_log"], ["delete"])]))).toBe(bad);
      expect(await outcome(createRole("unknown-verb", [rule(["*"], ["teleport"])]))).toBe(bad);
      expect(await outcome(w.roles.createRole({}, sysadmin.as))).toBe(bad);
      expect(await outcome(updateRole("no-such-role", [rule(["user"], ["get"])]))).toBe("NotFound:ROLE_NOT_FOUND");
      expect(await outcome(w.roles.deleteRole({ name: "no-such-role" }, sysadmin.as))).toBe("NotFound:ROLE_NOT_FOUND");
      expect(await outcome(w.roles.getRole({ name: "no-such-role" }, user.as))).toBe("NotFound:ROLE_NOT_FOUND");
    });

    it("create, update, list with pages, delete", async () => {
      const names = ["life-a", "life-b", "life-c", "life-d"];
      for (const name of names) await createRole(name, [rule(["user"], ["get"])]);
      expect(await outcome(createRole("life-a", [rule(["user"], ["get"])]))).toBe("AlreadyExists:ROLE_EXISTS");
      const updated = await updateRole("life-b", [rule(["user"], ["*"]), rule(["user"], ["delete"], Effect.DENY)]);
      expect(updated.role?.rules.map((r) => r.effect)).toEqual([Effect.ALLOW, Effect.DENY]);
      const { ids: listed } = await collectPages(
        async (pageToken) => {
          const r = await w.roles.listRoles({ pageSize: 2, pageToken }, user.as);
          return { items: r.roles, nextPageToken: r.nextPageToken };
        },
        (r) => r.name,
        2,
      );
      expect(listed).toEqual(expect.arrayContaining(["admin", "auditor", "user-manager", ...names]));
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

    it("a matching deny in any role beats an allow in another, through the real interceptor chain", async () => {
      const cleo = await w.user("rbac-cleo");
      await createRole("ops", [rule(["*"], ["*"])]);
      await createRole("no-audit", [rule(["audit_log"], ["*"], Effect.DENY)]);
      await createRole("users-but-no-delete", [rule(["user"], ["*"]), rule(["user"], ["delete"], Effect.DENY)]);
      const victim = await w.user("rbac-cleo-victim");

      await grant(cleo, ["ops"]);
      expect(await outcome(w.audit.listAuditLogs({ pageSize: 1 }, cleo.as))).toBe("OK");
      await grant(cleo, ["ops", "no-audit"]);
      expect(await outcome(w.audit.listAuditLogs({ pageSize: 1 }, cleo.as))).toBe(denied("PERMISSION_REQUIRED"));
      expect(await outcome(w.audit.verifyAuditChain({}, cleo.as))).toBe(denied("PERMISSION_REQUIRED"));
      // The deny reaches only what it names.
      expect(await outcome(w.users.listUsers({ pageSize: 1 }, cleo.as))).toBe("OK");

      await grant(cleo, ["users-but-no-delete"]);
      expect(await outcome(w.users.deleteUser({ id: victim.id }, cleo.as))).toBe(denied("PERMISSION_REQUIRED"));
      expect(await outcome(w.users.disableUser({ id: victim.id }, cleo.as))).toBe("OK");
      expect(await outcome(w.users.enableUser({ id: victim.id }, cleo.as))).toBe("OK");
    });

    it("role rules and role assignments take effect at the user's next call, without a new login", async () => {
      const ana = await w.user("rbac-ana");
      await createRole("log-reader", [rule(["audit_log"], ["list"])]);
      const read = () => outcome(w.audit.listAuditLogs({ pageSize: 1 }, ana.as));
      expect(await read()).toBe(denied("PERMISSION_REQUIRED"));

      const assigned = await grant(ana, ["log-reader"]);
      expect(assigned.user?.roles).toEqual(["log-reader"]);
      expect(await read()).toBe("OK");

      await updateRole("log-reader", [rule(["audit_log"], ["verify"])]);
      expect(await read()).toBe(denied("PERMISSION_REQUIRED"));
      await updateRole("log-reader", [rule(["*"], ["*"]), rule(["audit_log"], ["list"], Effect.DENY)]);
      expect(await read()).toBe(denied("PERMISSION_REQUIRED"));
      await updateRole("log-reader", [rule(["audit_log"], ["*"])]);
      expect(await read()).toBe("OK");

      await grant(ana, []);
      expect(await read()).toBe(denied("PERMISSION_REQUIRED"));
      await grant(ana, ["log-reader"]);
      await w.roles.deleteRole({ name: "log-reader" }, sysadmin.as);
      expect(await read()).toBe(denied("PERMISSION_REQUIRED"));
    });

    it("the admin flag set or cleared by UpdateUser is the admin role, and applies to the user's next call", async () => {
      const ben = await w.user("rbac-ben");
      const foreign = await w.org(user);
      const adminCalls = () => Promise.all([outcome(w.users.listUsers({}, ben.as)), outcome(w.orgs.getOrganization({ id: foreign.id }, ben.as))]);
      expect(await adminCalls()).toEqual([denied("PERMISSION_REQUIRED"), denied("ORGANIZATION_ROLE_REQUIRED")]);
      const promoted = await w.users.updateUser({ id: ben.id, admin: true }, sysadmin.as);
      expect([promoted.user?.admin, promoted.user?.roles]).toEqual([true, ["admin"]]);
      expect(await adminCalls()).toEqual(["OK", "OK"]);
      expect(await outcome(w.users.updateUser({ id: ben.id, admin: false }, ben.as))).toBe("FailedPrecondition:CANNOT_DEMOTE_SELF");
      const demoted = await w.users.updateUser({ id: ben.id, admin: false }, sysadmin.as);
      expect([demoted.user?.admin, demoted.user?.roles]).toEqual([false, []]);
      expect(await adminCalls()).toEqual([denied("PERMISSION_REQUIRED"), denied("ORGANIZATION_ROLE_REQUIRED")]);
    });
  });
});
