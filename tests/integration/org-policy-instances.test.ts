import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { OrgPolicyConfigService, UrlAction } from "../../gen/warden/orgpolicy/v1/org_policy_config_service_pb.js";
import { AuditLog } from "../../src/domain/audit/audit-log.js";
import { CachedOrgPolicyReader } from "../../src/domain/orgpolicy/cached-org-policy-reader.js";
import { OrgPolicyConfigs } from "../../src/domain/orgpolicy/org-policy-configs.js";
import { TENANCY_SETTINGS, World, type IssuedKey, type Team } from "../helpers/tenancy-world.js";
import { createTestApp, type TestApp, caughtUp } from "../helpers/test-app.js";

describe("org policy changes reach another instance at its next call (the invalidation bus)", () => {
  let a: TestApp;
  let b: TestApp;
  let w: World;
  let team: Team;
  let key: IssuedKey;
  beforeAll(async () => {
    a = await createTestApp(TENANCY_SETTINGS);
    // A second server on the same database: its own caches, told of changes only by the bus.
    b = await createTestApp(TENANCY_SETTINGS, { sameDatabaseAs: a });
    w = new World(a);
    team = await w.team("opi");
    key = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.ADMIN]);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const bCaughtUp = () => caughtUp(a, b);

  it("a rule saved on one instance decides the other's next CheckUrlAccess and GetBrowserPolicy", async () => {
    const onA = a.client(OrgPolicyConfigService);
    const onB = b.client(OrgPolicyConfigService);
    const checkOnB = async (url: string) => {
      const r = await onB.checkUrlAccess({ organizationId: team.id, url }, team.member.as);
      return [r.allowed, r.matchedRule];
    };
    // b caches the settings and the compiled matcher.
    expect(await checkOnB("https://tracker.example/")).toEqual([true, "default"]);
    expect((await onB.getBrowserPolicy({ organizationId: team.id }, team.member.as)).version).toBe(0n);

    await onA.updateOrgPolicyConfig(
      { organizationId: team.id, accessControl: { block: ["*.Tracker.example"], defaultAction: UrlAction.ALLOW } },
      team.admin.as,
    );
    await bCaughtUp();
    expect(await checkOnB("https://tracker.example/")).toEqual([false, "block:*.tracker.example"]);
    expect(await onB.getBrowserPolicy({ organizationId: team.id }, team.member.as)).toMatchObject({ version: 1n, block: ["*.tracker.example"] });

    await onA.updateOrgPolicyConfig({ organizationId: team.id, accessControl: { allow: ["tracker.example"], defaultAction: UrlAction.BLOCK } }, team.admin.as);
    await bCaughtUp();
    expect(await checkOnB("https://tracker.example/")).toEqual([true, "allow:tracker.example"]);
    expect(await checkOnB("https://other.example/")).toEqual([false, "default"]);
  });

  it("b's settings reader serves from its cache and drops it on org_policy and on org (require_mfa) changes", async () => {
    const { store, caches, bus } = b.app.hooks;
    const reader = new CachedOrgPolicyReader(new OrgPolicyConfigs({ store, clock: b.clock, audit: new AuditLog(store, b.clock), bus }), caches, bus);
    const first = await reader.settings(team.id);
    expect([first.mfa.required, first.device.maxPerUser]).toEqual([false, 0]);

    // A row changed behind the service's back (no publish): the cached settings stay as they were.
    await a.app.hooks.db.execute(sql`update org_policy_configs set device = jsonb_set(device, '{maxPerUser}', '77') where organization_id = ${team.id}`);
    expect((await reader.settings(team.id)).device.maxPerUser).toBe(0);
    expect(Object.isFrozen((await reader.settings(team.id)).device)).toBe(true);

    // UpdateOrganization on a publishes "org": b reads again and sees require_mfa (and the row as it is now).
    await w.orgs.updateOrganization({ id: team.id, requireMfa: true }, key.as);
    await bCaughtUp();
    const afterOrg = await reader.settings(team.id);
    expect([afterOrg.mfa.required, afterOrg.device.maxPerUser]).toEqual([true, 77]);

    await a.client(OrgPolicyConfigService).updateOrgPolicyConfig({ organizationId: team.id, mfa: { required: false, allowedMethods: ["passkey"] } }, key.as);
    await bCaughtUp();
    const afterConfig = await reader.settings(team.id);
    expect([afterConfig.mfa.required, afterConfig.mfa.allowedMethods, afterConfig.version]).toEqual([false, ["passkey"], 3]);
  });
});
