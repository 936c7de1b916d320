import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { OrgPolicyConfigService } from "../../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { PolicyLanguage, PolicyOutcome, PolicySchema, PolicyService, type Policy } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { queryRows } from "../helpers/database.js";
import { expectError, outcome } from "../helpers/expect-error.js";
import { TENANCY_SETTINGS, unknownId, World, type Caller, type Team } from "../helpers/tenancy-world.js";
import { createTestApp, type TestApp, caughtUp } from "../helpers/test-app.js";

type PolicyInit = Omit<MessageInitShape<typeof PolicySchema>, "$typeName">;

describe("PolicyService", () => {
  let t: TestApp;
  let w: World;
  let team: Team;
  let other: Team;
  let sysadmin: Caller;
  beforeAll(async () => {
    t = await createTestApp({ ...TENANCY_SETTINGS, max_organizations_per_user: 1000 });
    w = new World(t);
    [team, other, sysadmin] = await Promise.all([w.team("pol"), w.team("pol-other"), w.admin()]);
  });
  afterAll(async () => t?.close());

  const policies = () => t.client(PolicyService);
  const draft = (orgId: string, p: PolicyInit = {}): PolicyInit => ({
    organizationId: orgId,
    name: w.name("policy"),
    language: PolicyLanguage.CEL,
    source: "user.org_role == 'viewer'",
    outcome: PolicyOutcome.DENY,
    message: "viewers stay out",
    priority: 10,
    enabled: true,
    ...p,
  });
  const createAs = (by: Caller, p: PolicyInit) => policies().createPolicy({ policy: p }, by.as);
  const create = async (p: PolicyInit, by = team.admin) => (await createAs(by, p)).policy!;
  const evaluate = async (orgId: string, by: Caller, input?: Record<string, unknown>) =>
    policies().evaluatePolicy({ organizationId: orgId, input: input as never }, by.as);
  const auditRows = (type: string, target: string) =>
    queryRows(t.app.hooks.db, sql`select actor_id, details from audit_events where event_type = ${type} and target_id = ${target} order by sequence`);

  describe("CreatePolicy", () => {
    it("org admins and owners create; the policy comes back whole and the change is audited", async () => {
      const p = await create(draft(team.id, { name: "viewers-out", priority: 42 }));
      expect([p.organizationId, p.name, p.language, p.source, p.outcome, p.message, p.priority, p.enabled]).toEqual([
        team.id,
        "viewers-out",
        PolicyLanguage.CEL,
        "user.org_role == 'viewer'",
        PolicyOutcome.DENY,
        "viewers stay out",
        42,
        true,
      ]);
      expect(p.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(p.createTime).toBeDefined();
      const audit = await auditRows("policy.create", p.id);
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ actor_id: team.admin.id, details: { organization_id: team.id, name: "viewers-out", language: "cel", outcome: "deny" } });
      expect((await create(draft(team.id), team.owner)).organizationId).toBe(team.id);
    });

    it("members, viewers and other organizations' admins may not", async () => {
      expect(await outcome(createAs(team.member, draft(team.id)))).toBe("PermissionDenied:ORGANIZATION_ROLE_REQUIRED");
      expect(await outcome(createAs(team.viewer, draft(team.id)))).toBe("PermissionDenied:ORGANIZATION_ROLE_REQUIRED");
      expect(await outcome(createAs(other.admin, draft(team.id)))).toBe("PermissionDenied:ORGANIZATION_ROLE_REQUIRED");
      // A system administrator acts in any organization.
      expect((await create(draft(team.id), sysadmin)).organizationId).toBe(team.id);
    });

    it("an admin-scoped API key of the organization may, a read-scoped one not", async () => {
      const admin = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.ADMIN]);
      const read = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.READ]);
      expect(await outcome(policies().createPolicy({ policy: draft(team.id) }, admin.as))).toBe("OK");
      expect(await outcome(policies().createPolicy({ policy: draft(team.id) }, read.as))).toBe("PermissionDenied:INSUFFICIENT_SCOPE");
    });

    it("refuses a source that does not compile, naming line and column", async () => {
      const err = await expectError(
        createAs(team.admin, draft(team.id, { source: "user.org_role == 'x' && usr.id == 'y'" })),
        Code.InvalidArgument,
        "POLICY_INVALID",
      );
      expect(err.rawMessage).toBe("line 1, column 25: undeclared reference to 'usr'");
      const multiLine = await expectError(
        createAs(team.admin, draft(team.id, { source: "user.mfa_enrolled &&\n  session.mfa_age_seconds < '300'" })),
        Code.InvalidArgument,
      );
      expect(multiLine.rawMessage).toMatch(/^line 2, column \d+: found no matching overload for '<' applied to '\(int, string\)'$/);
      expect((await expectError(createAs(team.admin, draft(team.id, { source: "user.roles" })), Code.InvalidArgument)).rawMessage).toMatch(/must be a bool/);
      const costly = "user.roles.exists(a, user.roles.exists(b, user.roles.exists(c, a + b + c == 'x')))";
      expect((await expectError(createAs(team.admin, draft(team.id, { source: costly })), Code.InvalidArgument, "POLICY_INVALID")).rawMessage).toMatch(
        /estimated cost \d+ exceeds the limit/,
      );
      expect(
        (
          await expectError(
            createAs(team.admin, draft(team.id, { source: "in_time_window(request.time, '09:00', '17:00', 'Atlantis/Capital')" })),
            Code.InvalidArgument,
          )
        ).rawMessage,
      ).toMatch(/^line 1, column 48: unknown time zone/);
    });

    it("takes Rego policies as OPA decision paths", async () => {
      const rego = await create(draft(team.id, { language: PolicyLanguage.REGO, source: "warden/authz/deny_2" }));
      expect([rego.language, rego.source]).toEqual([PolicyLanguage.REGO, "warden/authz/deny_2"]);
      for (const bad of ["warden/../deny", "/warden/deny", "warden//deny", "warden/deny/", "warden.authz", "http://opa/x"]) {
        const err = await expectError(
          createAs(team.admin, draft(team.id, { language: PolicyLanguage.REGO, source: bad })),
          Code.InvalidArgument,
          "POLICY_INVALID",
        );
        expect(err.rawMessage, bad).toMatch(/^line 1, column \d+: /);
      }
    });

    it("keeps names unique in an organization, not across organizations", async () => {
      await create(draft(team.id, { name: "unique-name" }));
      expect(await outcome(createAs(team.admin, draft(team.id, { name: "unique-name" })))).toBe("AlreadyExists:POLICY_EXISTS");
      expect(await outcome(createAs(other.admin, draft(other.id, { name: "unique-name" })))).toBe("OK");
    });

    it("of racing writes to one name, one wins and the other hears POLICY_EXISTS", async () => {
      const creates = await Promise.all([1, 2, 3].map(() => outcome(createAs(team.admin, draft(team.id, { name: "raced-create" })))));
      expect(creates.sort()).toEqual(["AlreadyExists:POLICY_EXISTS", "AlreadyExists:POLICY_EXISTS", "OK"]);
      const [p1, p2] = [await create(draft(team.id)), await create(draft(team.id))];
      const renames = await Promise.all(
        [p1!, p2!].map((p) => outcome(policies().updatePolicy({ policy: { ...draft(team.id), id: p.id, name: "raced-rename" } }, team.admin.as))),
      );
      expect(renames.sort()).toEqual(["AlreadyExists:POLICY_EXISTS", "OK"]);
    });

    it("checks the request's shape", async () => {
      const bad = "InvalidArgument:INVALID_ARGUMENT";
      expect(await outcome(createAs(team.admin, draft(team.id, { name: "" })))).toBe(bad);
      expect(await outcome(createAs(team.admin, draft(team.id, { outcome: PolicyOutcome.UNSPECIFIED })))).toBe(bad);
      expect(await outcome(createAs(team.admin, draft(team.id, { language: PolicyLanguage.UNSPECIFIED })))).toBe(bad);
      expect(await outcome(createAs(team.admin, draft(team.id, { source: "" })))).toBe(bad);
      expect(await outcome(createAs(team.admin, draft(team.id, { priority: 2_000_000 })))).toBe(bad);
    });
  });

  describe("UpdatePolicy and DeletePolicy", () => {
    let target: Policy;
    beforeAll(async () => {
      target = await create(draft(team.id, { name: "to-change" }));
    });

    it("replace and delete for the organization's admins, audited", async () => {
      const updated = (
        await policies().updatePolicy({ policy: { ...draft(team.id), id: target.id, name: "changed", priority: -3, enabled: false } }, team.admin.as)
      ).policy!;
      expect([updated.id, updated.name, updated.priority, updated.enabled]).toEqual([target.id, "changed", -3, false]);
      expect(await auditRows("policy.update", target.id)).toHaveLength(1);
      const victim = await create(draft(team.id));
      await policies().deletePolicy({ id: victim.id }, team.owner.as);
      expect(await auditRows("policy.delete", victim.id)).toMatchObject([{ actor_id: team.owner.id }]);
      expect(await outcome(policies().deletePolicy({ id: victim.id }, team.owner.as))).toBe("NotFound:POLICY_NOT_FOUND");
    });

    it("never reveal another organization's policy: not found, as for an id that names nothing", async () => {
      const theirs = await create(draft(other.id), other.admin);
      const notFound = "NotFound:POLICY_NOT_FOUND";
      expect(await outcome(policies().updatePolicy({ policy: { ...draft(other.id), id: theirs.id } }, team.admin.as))).toBe(notFound);
      expect(await outcome(policies().deletePolicy({ id: theirs.id }, team.admin.as))).toBe(notFound);
      expect(await outcome(policies().deletePolicy({ id: unknownId() }, team.admin.as))).toBe(notFound);
      // Naming one's own organization with another's policy id is the same.
      expect(await outcome(policies().updatePolicy({ policy: { ...draft(team.id), id: theirs.id } }, team.admin.as))).toBe(notFound);
      // ...and moving one's own policy to another organization is too.
      expect(await outcome(policies().updatePolicy({ policy: { ...draft(other.id), id: target.id } }, team.admin.as))).toBe(notFound);
      expect((await auditRows("policy.delete", theirs.id)).length).toBe(0);
    });

    it("members of the organization are told their role is too low", async () => {
      expect(await outcome(policies().updatePolicy({ policy: { ...draft(team.id), id: target.id } }, team.member.as))).toBe(
        "PermissionDenied:ORGANIZATION_ROLE_REQUIRED",
      );
      expect(await outcome(policies().deletePolicy({ id: target.id }, team.viewer.as))).toBe("PermissionDenied:ORGANIZATION_ROLE_REQUIRED");
    });

    it("compile and rename its way into a clash: refused, nothing changed", async () => {
      await create(draft(team.id, { name: "taken" }));
      expect(await outcome(policies().updatePolicy({ policy: { ...draft(team.id), id: target.id, name: "taken" } }, team.admin.as))).toBe(
        "AlreadyExists:POLICY_EXISTS",
      );
      const err = await expectError(
        policies().updatePolicy({ policy: { ...draft(team.id), id: target.id, source: "user.org_role ==" } }, team.admin.as),
        Code.InvalidArgument,
        "POLICY_INVALID",
      );
      expect(err.rawMessage).toMatch(/^line 1, column \d+: syntax error/);
      const listed = (await policies().listPolicies({ organizationId: team.id, pageSize: 500 }, team.admin.as)).policies.find((p) => p.id === target.id);
      expect(listed?.name).not.toBe("taken");
    });
  });

  describe("ListPolicies", () => {
    it("pages by priority (highest first), then id, for org admins only", async () => {
      const org = await w.org(team.owner);
      const made = [];
      for (const priority of [5, 100, -1, 5, 5, 0, 100]) made.push(await create(draft(org.id, { priority }), team.owner));
      const seen: Policy[] = [];
      let pageToken = "";
      do {
        const page = await policies().listPolicies({ organizationId: org.id, pageSize: 3, pageToken }, team.owner.as);
        expect(page.policies.length).toBeLessThanOrEqual(3);
        seen.push(...page.policies);
        pageToken = page.nextPageToken;
      } while (pageToken);
      const expected = [...made].sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : 1)).map((p) => p.id);
      expect(seen.map((p) => p.id)).toEqual(expected);
      expect(await outcome(policies().listPolicies({ organizationId: org.id }, team.admin.as))).toBe("PermissionDenied:ORGANIZATION_ROLE_REQUIRED");
      expect(await outcome(policies().listPolicies({ organizationId: team.id }, team.member.as))).toBe("PermissionDenied:ORGANIZATION_ROLE_REQUIRED");
      expect(await outcome(policies().listPolicies({ organizationId: org.id, pageToken: "bm9wZQ" }, team.owner.as))).toBe("InvalidArgument:INVALID_ARGUMENT");
    });
  });

  describe("EvaluatePolicy", () => {
    it("a member evaluates their own context; the decision names the policy", async () => {
      const org = await w.org(team.owner);
      await w.join(org.id, team.owner, team.member, "member");
      await w.join(org.id, team.owner, team.viewer, "viewer");
      await create(draft(org.id, { name: "viewers-out", source: "user.org_role == 'viewer'", message: "not for viewers" }), team.owner);
      await create(
        draft(org.id, { name: "mfa-for-members", source: `user.id == '${team.member.id}' && !session.mfa`, outcome: PolicyOutcome.REQUIRE_MFA, priority: 1 }),
        team.owner,
      );
      const viewer = await evaluate(org.id, team.viewer);
      expect([viewer.outcome, viewer.policyName, viewer.message, viewer.reason]).toEqual([PolicyOutcome.DENY, "viewers-out", "not for viewers", "matched"]);
      const member = await evaluate(org.id, team.member);
      expect([member.outcome, member.policyName, member.reason]).toEqual([PolicyOutcome.REQUIRE_MFA, "mfa-for-members", "matched"]);
      const owner = await evaluate(org.id, team.owner);
      expect([owner.outcome, owner.policyId, owner.policyName, owner.reason]).toEqual([PolicyOutcome.ALLOW, "", "", "default"]);
      expect(await outcome(evaluate(org.id, other.owner))).toBe("PermissionDenied:ORGANIZATION_ROLE_REQUIRED");
    });

    it("sees the caller's session, roles and request in their own context", async () => {
      const org = await w.org(team.owner);
      const probe = (source: string) => create(draft(org.id, { name: w.name("probe"), source, outcome: PolicyOutcome.ALLOW, priority: 1 }), team.owner);
      await t.client(OrgPolicyConfigService).updateOrgPolicyConfig({ organizationId: org.id, defaultPolicyOutcome: PolicyOutcome.DENY }, team.owner.as);
      await probe(
        `user.id == '${team.owner.id}' && user.email == '${team.owner.email}' && user.org_role == 'owner' && !user.mfa_enrolled && ` +
          `organization.id == '${org.id}' && 'pwd' in session.auth_methods && !session.mfa && session.mfa_age_seconds == -1 && session.age_seconds >= 0 && ` +
          `request.method == '/warden.policy.v1.PolicyService/EvaluatePolicy' && !device.registered`,
      );
      const r = await evaluate(org.id, team.owner);
      expect([r.outcome, r.reason]).toEqual([PolicyOutcome.ALLOW, "matched"]);
    });

    it("an explicit input needs an org admin, and must be a PolicyInput", async () => {
      expect(await outcome(evaluate(team.id, team.member, { user: { org_role: "owner" } }))).toBe("PermissionDenied:ORGANIZATION_ROLE_REQUIRED");
      expect((await evaluate(team.id, team.admin, { user: { orgRole: "owner" } })).outcome).toBeDefined();
      expect(await outcome(evaluate(team.id, team.admin, { user: { favourite_colour: "blue" } }))).toBe("InvalidArgument:POLICY_INPUT_INVALID");
      expect(await outcome(evaluate(team.id, team.admin, { request: { time: "at noon" } }))).toBe("InvalidArgument:POLICY_INPUT_INVALID");
      expect(await outcome(evaluate(team.id, team.admin, { user: { roles: Array.from({ length: 65 }, (_, i) => `r${i}`) } }))).toBe(
        "InvalidArgument:POLICY_INPUT_INVALID",
      );
    });

    it("a machine credential has no context of its own: it gives an input, and needs the admin scope for it", async () => {
      // A fresh organization: the team's policies (one of them fails at run time) deny its owner's CreateApiKey.
      const org = await w.org(team.owner);
      const read = await w.apiKey(team.owner.as, org.id, [ApiKeyScope.READ]);
      const admin = await w.apiKey(team.owner.as, org.id, [ApiKeyScope.ADMIN]);
      expect(await outcome(policies().evaluatePolicy({ organizationId: org.id }, read.as))).toBe("PermissionDenied:USER_SESSION_REQUIRED");
      expect(await outcome(policies().evaluatePolicy({ organizationId: org.id, input: {} }, read.as))).toBe("PermissionDenied:ORGANIZATION_ROLE_REQUIRED");
      expect(await outcome(policies().evaluatePolicy({ organizationId: org.id, input: { user: { org_role: "viewer" } } }, admin.as))).toBe("OK");
    });

    it("has no side effect: nothing is written, not even an audit event", async () => {
      const count = async () => Number((await queryRows(t.app.hooks.db, sql`select count(*)::int as n from audit_events`))[0]!.n);
      const before = await count();
      await evaluate(team.id, team.member);
      await evaluate(team.id, team.admin, { user: { org_role: "viewer" } });
      expect(await count()).toBe(before);
    });

    it("the organization's default decides when no policy matches", async () => {
      const org = await w.org(team.owner);
      await create(draft(org.id, { source: "false" }), team.owner);
      expect((await evaluate(org.id, team.owner, {})).outcome).toBe(PolicyOutcome.ALLOW);
      await t.client(OrgPolicyConfigService).updateOrgPolicyConfig({ organizationId: org.id, defaultPolicyOutcome: PolicyOutcome.DENY }, team.owner.as);
      const d = await evaluate(org.id, team.owner, {});
      expect([d.outcome, d.policyId, d.reason]).toEqual([PolicyOutcome.DENY, "", "default"]);
    });

    it("sees every change at the next evaluation: update, disable, delete", async () => {
      const org = await w.org(team.owner);
      const input = { user: { org_role: "member" } };
      const p = await create(draft(org.id, { name: "members", source: "user.org_role == 'member'" }), team.owner);
      expect((await evaluate(org.id, team.owner, input)).policyName).toBe("members");
      await policies().updatePolicy({ policy: { ...draft(org.id), id: p.id, name: "members", source: "user.org_role == 'viewer'" } }, team.owner.as);
      expect((await evaluate(org.id, team.owner, input)).reason).toBe("default");
      await policies().updatePolicy({ policy: { ...draft(org.id), id: p.id, name: "members", source: "user.org_role == 'member'" } }, team.owner.as);
      expect((await evaluate(org.id, team.owner, input)).policyName).toBe("members");
      await policies().updatePolicy(
        { policy: { ...draft(org.id), id: p.id, name: "members", source: "user.org_role == 'member'", enabled: false } },
        team.owner.as,
      );
      expect((await evaluate(org.id, team.owner, input)).reason).toBe("default");
      const q = await create(draft(org.id, { name: "again", source: "true" }), team.owner);
      expect((await evaluate(org.id, team.owner, input)).policyName).toBe("again");
      await policies().deletePolicy({ id: q.id }, team.owner.as);
      expect((await evaluate(org.id, team.owner, input)).reason).toBe("default");
    });
  });
});

describe("compiled policies on two instances (the invalidation bus)", () => {
  let a: TestApp;
  let b: TestApp;
  let team: Team;
  beforeAll(async () => {
    a = await createTestApp(TENANCY_SETTINGS);
    b = await createTestApp(TENANCY_SETTINGS, { sameDatabaseAs: a });
    team = await new World(a).team("pol-bus");
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const bCaughtUp = () => caughtUp(a, b);

  it("a policy changed on one instance decides the other's next evaluation", async () => {
    const onA = a.client(PolicyService);
    const onB = b.client(PolicyService);
    const evaluateOnB = async () => (await onB.evaluatePolicy({ organizationId: team.id, input: { user: { org_role: "member" } } }, team.owner.as)).policyName;
    const p = (
      await onA.createPolicy(
        {
          policy: {
            organizationId: team.id,
            name: "bus",
            language: PolicyLanguage.CEL,
            source: "user.org_role == 'member'",
            outcome: PolicyOutcome.DENY,
            enabled: true,
          },
        },
        team.owner.as,
      )
    ).policy!;
    await bCaughtUp();
    // b compiles and caches it.
    expect(await evaluateOnB()).toBe("bus");
    expect(await evaluateOnB()).toBe("bus");
    await onA.updatePolicy({ policy: { ...p, source: "user.org_role == 'viewer'" } }, team.owner.as);
    await bCaughtUp();
    expect(await evaluateOnB()).toBe("");
    await onA.updatePolicy({ policy: { ...p, source: "true" } }, team.owner.as);
    await bCaughtUp();
    expect(await evaluateOnB()).toBe("bus");
    await onA.deletePolicy({ id: p.id }, team.owner.as);
    await bCaughtUp();
    expect(await evaluateOnB()).toBe("");
  });
});
