import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { OrgPolicyConfigService, UrlAction } from "../../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { PolicyOutcome } from "../../gen/warden/policy/v1/policy_service_pb.js";
import { queryRows } from "../helpers/database.js";
import { denied, expectError, outcome, violatedFields } from "../helpers/expect-error.js";
import { useTenancyWorld, type Caller, type IssuedKey, type Team } from "../helpers/tenancy-world.js";

describe("OrgPolicyConfigService", () => {
  const w = useTenancyWorld();
  const policy = () => w.t.client(OrgPolicyConfigService);
  let team: Team;
  let outsider: Caller;
  beforeAll(async () => {
    team = await w.team("op");
    outsider = await w.user("op-outsider");
  });

  it("members read the defaults of an organization that never set anything", async () => {
    const { config } = await policy().getOrgPolicyConfig({ organizationId: team.id }, team.viewer.as);
    expect(config).toMatchObject({
      organizationId: team.id,
      mfa: { required: false, allowedMethods: [] },
      device: { requireRegistered: false, requireTrusted: false, maxPerUser: 0, autoTrust: false },
      session: { maxAgeSeconds: 0n, idleTimeoutSeconds: 0n, maxConcurrentPerUser: 0 },
      accessControl: { allow: [], block: [], defaultAction: UrlAction.ALLOW },
      defaultPolicyOutcome: PolicyOutcome.ALLOW,
      version: 0n,
    });
    expect(config?.updateTime).toBeUndefined();
    const browser = await policy().getBrowserPolicy({ organizationId: team.id }, team.member.as);
    expect([browser.version, browser.allow, browser.block, browser.defaultAction]).toEqual([0n, [], [], UrlAction.ALLOW]);
    const check = await policy().checkUrlAccess({ organizationId: team.id, url: "https://anything.example/" }, team.member.as);
    expect([check.allowed, check.matchedRule]).toEqual([true, "default"]);
  });

  it("a non-member is refused every method, and a member or viewer may not update", async () => {
    const orgId = team.id;
    const calls = [
      (as: Caller) => policy().getOrgPolicyConfig({ organizationId: orgId }, as.as),
      (as: Caller) => policy().getBrowserPolicy({ organizationId: orgId }, as.as),
      (as: Caller) => policy().checkUrlAccess({ organizationId: orgId, url: "https://example.com/" }, as.as),
      (as: Caller) => policy().updateOrgPolicyConfig({ organizationId: orgId, device: { maxPerUser: 3 } }, as.as),
    ];
    for (const call of calls) expect(await outcome(call(outsider))).toBe(denied("ORGANIZATION_ROLE_REQUIRED"));
    for (const caller of [team.member, team.viewer])
      expect(await outcome(policy().updateOrgPolicyConfig({ organizationId: orgId, device: { maxPerUser: 3 } }, caller.as))).toBe(
        denied("ORGANIZATION_ROLE_REQUIRED"),
      );
    const { config } = await policy().getOrgPolicyConfig({ organizationId: orgId }, team.member.as);
    expect(config?.version).toBe(0n);
  });

  describe("updates", () => {
    let t: Team;
    beforeAll(async () => {
      t = await w.team("opu");
    });

    it("an admin replaces the sections given, keeps the others, and each change adds one to the version", async () => {
      const first = await policy().updateOrgPolicyConfig(
        {
          organizationId: t.id,
          accessControl: {
            allow: ["Example.COM/Docs", "*.Bücher.de", "example.com/docs"],
            block: ["EVIL.com.", "https://example.com:443/admin"],
            defaultAction: UrlAction.BLOCK,
          },
          session: { maxAgeSeconds: 3600n, idleTimeoutSeconds: 600n, maxConcurrentPerUser: 3 },
        },
        t.admin.as,
      );
      expect(first.config).toMatchObject({
        version: 1n,
        // Normalized and deduplicated as stored.
        accessControl: {
          allow: ["example.com/Docs", "*.xn--bcher-kva.de", "example.com/docs"],
          block: ["evil.com", "https://example.com:443/admin"],
          defaultAction: UrlAction.BLOCK,
        },
        session: { maxAgeSeconds: 3600n, idleTimeoutSeconds: 600n, maxConcurrentPerUser: 3 },
        device: { maxPerUser: 0 },
      });
      expect(first.config?.updateTime).toBeDefined();

      const second = await policy().updateOrgPolicyConfig(
        { organizationId: t.id, device: { requireRegistered: true, maxPerUser: 5 }, defaultPolicyOutcome: PolicyOutcome.REQUIRE_MFA },
        t.owner.as,
      );
      expect(second.config).toMatchObject({
        version: 2n,
        device: { requireRegistered: true, requireTrusted: false, maxPerUser: 5, autoTrust: false },
        session: { maxAgeSeconds: 3600n, maxConcurrentPerUser: 3 },
        accessControl: { block: ["evil.com", "https://example.com:443/admin"], defaultAction: UrlAction.BLOCK },
        defaultPolicyOutcome: PolicyOutcome.REQUIRE_MFA,
      });
      // An unset outcome keeps the stored one.
      const third = await policy().updateOrgPolicyConfig({ organizationId: t.id, mfa: { allowedMethods: ["totp", "passkey", "totp"] } }, t.admin.as);
      expect(third.config).toMatchObject({
        version: 3n,
        defaultPolicyOutcome: PolicyOutcome.REQUIRE_MFA,
        mfa: { required: false, allowedMethods: ["totp", "passkey"] },
      });

      const read = await policy().getOrgPolicyConfig({ organizationId: t.id }, t.viewer.as);
      expect(read.config).toEqual(third.config);
      // Stored as plain documents (mfa.required lives on the organization, not here).
      const [row] = await queryRows(
        w.t.app.hooks.db,
        sql`select mfa, device, session, default_policy_outcome, version::int as version from org_policy_configs where organization_id = ${t.id}`,
      );
      expect(row).toEqual({
        mfa: { allowedMethods: ["totp", "passkey"] },
        device: { requireRegistered: true, requireTrusted: false, maxPerUser: 5, autoTrust: false },
        session: { maxAgeSeconds: 3600, idleTimeoutSeconds: 600, maxConcurrentPerUser: 3 },
        default_policy_outcome: "require_mfa",
        version: 3,
      });

      // Back to settings that hold nobody back (the policy gate reads them on CheckUrlAccess and GetBrowserPolicy).
      const fourth = await policy().updateOrgPolicyConfig({ organizationId: t.id, device: {}, defaultPolicyOutcome: PolicyOutcome.ALLOW }, t.admin.as);
      expect(fourth.config).toMatchObject({ version: 4n, device: { requireRegistered: false, maxPerUser: 0 }, defaultPolicyOutcome: PolicyOutcome.ALLOW });
    });

    it("GetBrowserPolicy lists the normalized rules and CheckUrlAccess decides with them", async () => {
      const browser = await policy().getBrowserPolicy({ organizationId: t.id }, t.viewer.as);
      expect(browser).toMatchObject({
        organizationId: t.id,
        version: 4n,
        allow: ["example.com/Docs", "*.xn--bcher-kva.de", "example.com/docs"],
        block: ["evil.com", "https://example.com:443/admin"],
        defaultAction: UrlAction.BLOCK,
      });
      const check = async (url: string) => {
        const r = await policy().checkUrlAccess({ organizationId: t.id, url }, t.viewer.as);
        return [r.allowed, r.matchedRule];
      };
      expect(await check("https://EXAMPLE.com/docs/intro")).toEqual([true, "allow:example.com/docs"]);
      expect(await check("https://example.com/docsx")).toEqual([false, "default"]);
      expect(await check("https://shop.bücher.de/")).toEqual([true, "allow:*.xn--bcher-kva.de"]);
      expect(await check("https://example.com@evil.com/docs")).toEqual([false, "block:evil.com"]);
      expect(await check("https://example.com/admin")).toEqual([false, "block:https://example.com:443/admin"]);
      const r = await policy().checkUrlAccess({ organizationId: t.id, url: "https://evil.com/" }, t.viewer.as);
      expect(r.message).toMatch(/blocked by the rule evil\.com/);
    });

    it("expected_version: the current one applies, a stale one is ABORTED and changes nothing", async () => {
      const { config } = await policy().getOrgPolicyConfig({ organizationId: t.id }, t.admin.as);
      const at = config!.version;
      const err = await expectError(
        policy().updateOrgPolicyConfig({ organizationId: t.id, device: { maxPerUser: 9 }, expectedVersion: at - 1n }, t.admin.as),
        Code.Aborted,
        "CONFIG_VERSION_MISMATCH",
      );
      expect(err.message).toContain(`version ${at}`);
      const ok = await policy().updateOrgPolicyConfig({ organizationId: t.id, device: { maxPerUser: 9 }, expectedVersion: at }, t.admin.as);
      expect([ok.config?.version, ok.config?.device?.maxPerUser]).toEqual([at + 1n, 9]);
      // The same expectation again is stale now.
      await expectError(
        policy().updateOrgPolicyConfig({ organizationId: t.id, device: { maxPerUser: 1 }, expectedVersion: at }, t.admin.as),
        Code.Aborted,
        "CONFIG_VERSION_MISMATCH",
      );
      const fresh = await w.team("opv");
      // A config never written is at version 0, which no expectation (>= 1) matches.
      await expectError(
        policy().updateOrgPolicyConfig({ organizationId: fresh.id, device: { maxPerUser: 1 }, expectedVersion: 1n }, fresh.admin.as),
        Code.Aborted,
        "CONFIG_VERSION_MISMATCH",
      );
    });

    it("concurrent updates each add one to the version", async () => {
      const { config } = await policy().getOrgPolicyConfig({ organizationId: t.id }, t.admin.as);
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => policy().updateOrgPolicyConfig({ organizationId: t.id, device: { maxPerUser: i + 1 } }, t.admin.as)),
      );
      const versions = results.map((r) => r.config!.version).sort((a, b) => (a < b ? -1 : 1));
      expect(versions).toEqual(Array.from({ length: 6 }, (_, i) => config!.version + BigInt(i + 1)));
    });

    it("a bad rule is INVALID_ARGUMENT / URL_INVALID naming it, and nothing is stored", async () => {
      const before = (await policy().getOrgPolicyConfig({ organizationId: t.id }, t.admin.as)).config!;
      const err = await expectError(
        policy().updateOrgPolicyConfig(
          { organizationId: t.id, accessControl: { allow: ["ok.example"], block: ["fine.example", "*.*.bad.example"] } },
          t.admin.as,
        ),
        Code.InvalidArgument,
        "URL_INVALID",
      );
      expect(err.message).toContain('"*.*.bad.example"');
      expect(violatedFields(err)).toEqual(["access_control.block[1]"]);
      await expectError(
        policy().updateOrgPolicyConfig({ organizationId: t.id, accessControl: { allow: ["file:///etc"] } }, t.admin.as),
        Code.InvalidArgument,
        "URL_INVALID",
      );
      // The proto's own rules still come first for shapes (an empty rule).
      await expectError(policy().updateOrgPolicyConfig({ organizationId: t.id, accessControl: { allow: [""] } }, t.admin.as), Code.InvalidArgument);
      // An update naming no section changes nothing.
      await expectError(policy().updateOrgPolicyConfig({ organizationId: t.id }, t.admin.as), Code.InvalidArgument);
      const after = (await policy().getOrgPolicyConfig({ organizationId: t.id }, t.admin.as)).config!;
      expect(after).toEqual(before);
    });

    it("a malformed URL (or another scheme) is INVALID_ARGUMENT / URL_INVALID", async () => {
      for (const url of ["not a url", "javascript:alert(1)", "http://exa mple.com/", "https://example.com../"]) {
        const err = await expectError(policy().checkUrlAccess({ organizationId: t.id, url }, t.member.as), Code.InvalidArgument, "URL_INVALID");
        expect(violatedFields(err)).toEqual(["url"]);
      }
    });

    it("each update is audited with the sections it changed and the new version", async () => {
      const admin = await w.admin();
      const r = await w.audit.queryAuditEvents({ eventTypes: ["org_policy.update"], targetId: t.id, pageSize: 100 }, admin.as);
      expect(r.events.length).toBeGreaterThanOrEqual(10);
      const [first, second, third] = r.events;
      expect([first?.actorId, first?.targetType, first?.details]).toEqual([t.admin.id, "organization", { sections: "session,access_control", version: "1" }]);
      expect([second?.actorId, second?.details]).toEqual([t.owner.id, { sections: "device,default_policy_outcome", version: "2" }]);
      expect(third?.details).toEqual({ sections: "mfa", version: "3" });
      expect(r.events[3]?.details).toEqual({ sections: "device,default_policy_outcome", version: "4" });
    });
  });

  describe("require_mfa is one bit, set from either service", () => {
    let t: Team;
    let key: IssuedKey;
    beforeAll(async () => {
      t = await w.team("opm");
      // Machine credentials are not held to the organization's MFA rule: they can turn it off again.
      key = await w.apiKey(t.owner.as, t.id, [ApiKeyScope.ADMIN]);
    });
    const orgRequires = async () => (await w.orgs.getOrganization({ id: t.id }, key.as)).organization!.requireMfa;
    const configRequires = async () => (await policy().getOrgPolicyConfig({ organizationId: t.id }, key.as)).config!.mfa!.required;

    it("UpdateOrgPolicyConfig's mfa.required is the organization's require_mfa, and members without MFA are held to it", async () => {
      const r = await policy().updateOrgPolicyConfig({ organizationId: t.id, mfa: { required: true, allowedMethods: ["totp"] } }, t.admin.as);
      expect(r.config?.mfa).toMatchObject({ required: true, allowedMethods: ["totp"] });
      expect([await orgRequires(), await configRequires()]).toEqual([true, true]);
      // The admin's own session has no second factor: the organization now refuses it.
      expect(await outcome(policy().getOrgPolicyConfig({ organizationId: t.id }, t.admin.as))).toBe("FailedPrecondition:MFA_REQUIRED");
      await policy().updateOrgPolicyConfig({ organizationId: t.id, mfa: { required: false, allowedMethods: ["totp"] } }, key.as);
      expect([await orgRequires(), await configRequires()]).toEqual([false, false]);
      expect(await outcome(policy().getOrgPolicyConfig({ organizationId: t.id }, t.admin.as))).toBe("OK");
    });

    it("UpdateOrganization's require_mfa shows in the config, and absent mfa sections keep it", async () => {
      const before = (await policy().getOrgPolicyConfig({ organizationId: t.id }, key.as)).config!;
      await w.orgs.updateOrganization({ id: t.id, requireMfa: true }, key.as);
      expect([await orgRequires(), await configRequires()]).toEqual([true, true]);
      const { config } = await policy().updateOrgPolicyConfig({ organizationId: t.id, device: { autoTrust: true } }, key.as);
      expect([config?.mfa?.required, config?.mfa?.allowedMethods, config?.version]).toEqual([true, ["totp"], before.version + 1n]);
      expect(await orgRequires()).toBe(true);
      await w.orgs.updateOrganization({ id: t.id, requireMfa: false }, key.as);
      expect([await orgRequires(), await configRequires()]).toEqual([false, false]);
    });
  });
});
