import { beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import {
  buildScene,
  callerIn,
  KEY_BY_ID_RPCS,
  MATRIX_ROLES,
  ORG_SCOPED_RPCS,
  parseTable,
  rpc,
  SERVICE_ACCOUNT_BY_ID_RPCS,
  TENANCY_RPCS,
  type MatrixRole,
  type Scene,
} from "../helpers/tenancy-rpcs.js";
import { denied, errorOf, outcome, outcomeOf } from "../helpers/expect-error.js";
import { unknownId, useTenancyWorld, type Caller } from "../helpers/tenancy-world.js";

/**
 * Who may call what, as the proto policy declares it (Y allowed, - PERMISSION_DENIED).
 * "outsider" owns another organization; "sysadmin" is a system administrator who is no member.
 */
const MATRIX = `
                             owner admin member viewer outsider sysadmin
GetOrganization                Y     Y     Y      Y      -        Y
UpdateOrganization             Y     Y     -      -      -        Y
DeleteOrganization             Y     -     -      -      -        Y
SuspendOrganization            -     -     -      -      -        Y
AddMember                      Y     Y     -      -      -        Y
RemoveMember                   Y     Y     -      -      -        Y
UpdateMemberRole               Y     Y     -      -      -        Y
ListMembers                    Y     Y     Y      Y      -        Y
CreateApiKey                   Y     Y     Y      -      -        Y
ListApiKeys                    Y     Y     Y      Y      -        Y
RevokeApiKey                   Y     Y     -      -      -        Y
RotateApiKey                   Y     Y     -      -      -        Y
CreateServiceAccount           Y     Y     -      -      -        Y
GetServiceAccount              Y     Y     -      -      -        Y
UpdateServiceAccount           Y     Y     -      -      -        Y
DeleteServiceAccount           Y     Y     -      -      -        Y
ListServiceAccounts            Y     Y     -      -      -        Y
RotateServiceAccountSecret     Y     Y     -      -      -        Y
`;

const CASES = parseTable(MATRIX).map(({ row, column, cell }) => ({ rpc: row, role: column as MatrixRole, allowed: cell === "Y" }));

describe("tenant isolation", () => {
  const w = useTenancyWorld({ max_organizations_per_user: 1000 });
  /** Org A: the organization under test; org B: another tenant, whose owner is the outsider. */
  let a: Scene;
  let b: Scene;
  let sysadmin: Caller;
  beforeAll(async () => {
    [a, b, sysadmin] = await Promise.all([buildScene(w, "a"), buildScene(w, "b"), w.admin()]);
  });

  it("the expectation table covers every tenancy RPC once, for every role", () => {
    expect([...new Set(CASES.map((c) => c.role))]).toEqual(MATRIX_ROLES);
    expect(new Set(CASES.map((c) => c.rpc))).toEqual(new Set(TENANCY_RPCS.map((r) => r.name)));
    expect(CASES).toHaveLength(TENANCY_RPCS.length * MATRIX_ROLES.length);
  });

  describe("role x RPC matrix", () => {
    it.for(CASES)("$rpc as $role (allowed: $allowed)", async ({ rpc: name, role, allowed }) => {
      const r = rpc(name);
      // A call that will change state gets an organization of its own; the rest share org A.
      const scene = allowed && r.mutates ? await buildScene(w, "a") : a;
      const caller = callerIn(scene.team, role, b.team.owner, sysadmin);
      expect(await outcome(r.call(w, scene.target, caller.as))).toBe(allowed ? "OK" : denied(r.deniedReason));
    });
  });

  describe("guessing another tenant's ids", () => {
    it.for(ORG_SCOPED_RPCS.map((r) => r.name))("%s: B's organization id and a random one are refused alike", async (name) => {
      const r = rpc(name);
      for (const caller of [a.team.owner, a.team.admin, a.team.viewer]) {
        const foreign = await errorOf(r.call(w, b.target, caller.as));
        const random = await errorOf(r.call(w, { ...b.target, orgId: unknownId() }, caller.as));
        expect(outcomeOf(foreign)).toBe(denied("ORGANIZATION_ROLE_REQUIRED"));
        // Same code, reason and message: nothing tells an existing organization from none.
        expect([outcomeOf(random), random?.rawMessage]).toEqual([outcomeOf(foreign), foreign?.rawMessage]);
      }
      // A system administrator may learn that an id names nothing.
      expect(await outcome(r.call(w, { ...a.target, orgId: unknownId() }, sysadmin.as))).toBe("NotFound:ORGANIZATION_NOT_FOUND");
    });

    it.for(KEY_BY_ID_RPCS.map((r) => r.name))("%s: B's API key id and a random one are refused alike", async (name) => {
      const r = rpc(name);
      const bKey = await w.apiKey(b.team.owner.as, b.team.id, [ApiKeyScope.READ]);
      for (const caller of [a.team.owner, a.team.admin]) {
        const foreign = await outcome(r.call(w, { ...a.target, keyId: bKey.key.id }, caller.as));
        expect(foreign).toBe(denied("API_KEY_ACCESS_DENIED"));
        expect(await outcome(r.call(w, { ...a.target, keyId: unknownId() }, caller.as))).toBe(foreign);
      }
      // A's own key, used as a bearer, cannot manage B's key either (and rotates no key but itself).
      const aKey = await w.apiKey(a.team.owner.as, a.team.id, [ApiKeyScope.ADMIN]);
      const byKey = name === "RotateApiKey" ? denied("USER_SESSION_REQUIRED") : denied("API_KEY_ACCESS_DENIED");
      expect(await outcome(r.call(w, { ...a.target, keyId: bKey.key.id }, aKey.as))).toBe(byKey);
      // B's key is untouched: still valid, not rotated.
      const v = await w.keys.validateApiKey({ key: bKey.secret });
      expect([v.valid, v.organizationId, v.apiKey?.revokeTime]).toEqual([true, b.team.id, undefined]);
    });

    it.for(SERVICE_ACCOUNT_BY_ID_RPCS.map((r) => r.name))("%s: B's service account id is NOT_FOUND in A, PERMISSION_DENIED in B", async (name) => {
      const r = rpc(name);
      const bSa = await w.serviceAccount(b.team.owner.as, b.team.id, [ApiKeyScope.READ]);
      const inA = { ...a.target, saId: bSa.sa.id };
      expect(await outcome(r.call(w, inA, a.team.owner.as))).toBe("NotFound:SERVICE_ACCOUNT_NOT_FOUND");
      expect(await outcome(r.call(w, { ...inA, saId: unknownId() }, a.team.owner.as))).toBe("NotFound:SERVICE_ACCOUNT_NOT_FOUND");
      expect(await outcome(r.call(w, { ...b.target, saId: bSa.sa.id }, a.team.owner.as))).toBe(denied("ORGANIZATION_ROLE_REQUIRED"));
      // B's account is unchanged and its secret still works.
      const got = await w.sas.getServiceAccount({ organizationId: b.team.id, id: bSa.sa.id }, b.team.owner.as);
      expect([got.serviceAccount?.name, got.serviceAccount?.disabled]).toEqual([bSa.sa.name, false]);
      await expect(w.saToken(bSa.sa.clientId, bSa.secret)).resolves.toBeDefined();
    });

    it("an API key cannot be created in A for B's service account", async () => {
      const bSa = await w.serviceAccount(b.team.owner.as, b.team.id, [ApiKeyScope.READ]);
      const attempt = w.keys.createApiKey(
        { organizationId: a.team.id, name: "steal", scopes: [ApiKeyScope.READ], serviceAccountId: bSa.sa.id },
        a.team.owner.as,
      );
      expect(await outcome(attempt)).toBe("NotFound:SERVICE_ACCOUNT_NOT_FOUND");
    });

    it("A's API keys and service-account tokens are refused in B", async () => {
      const key = await w.apiKey(a.team.owner.as, a.team.id, [ApiKeyScope.ADMIN]);
      const sa = await w.serviceAccount(a.team.owner.as, a.team.id, [ApiKeyScope.ADMIN]);
      const saToken = await w.saToken(sa.sa.clientId, sa.secret);
      for (const as of [key.as, saToken.as]) {
        for (const r of ORG_SCOPED_RPCS)
          expect(`${r.name} ${await outcome(r.call(w, b.target, as))}`).toBe(`${r.name} ${denied("ORGANIZATION_ROLE_REQUIRED")}`);
        // ...while the same credential works in its own organization.
        expect(await outcome(rpc("GetOrganization").call(w, a.target, as))).toBe("OK");
      }
    });
  });

  describe("lists show only the caller's tenant", () => {
    it("ListOrganizations, ListMembers, ListApiKeys and ListServiceAccounts of A hold nothing of B", async () => {
      const caller = a.team.admin;
      const orgs = await w.orgs.listOrganizations({ pageSize: 500 }, caller.as);
      expect(orgs.organizations.length).toBeGreaterThan(0);
      expect(orgs.organizations.map((o) => o.id)).not.toContain(b.team.id);
      const members = await w.members.listMembers({ organizationId: a.team.id, pageSize: 500 }, caller.as);
      expect(members.members.every((m) => m.organizationId === a.team.id)).toBe(true);
      expect(members.members.map((m) => m.userId)).not.toContain(b.team.owner.id);
      const keys = await w.keys.listApiKeys({ organizationId: a.team.id, pageSize: 500 }, caller.as);
      expect(keys.apiKeys.length).toBeGreaterThan(0);
      expect(keys.apiKeys.every((k) => k.organizationId === a.team.id)).toBe(true);
      const sas = await w.sas.listServiceAccounts({ organizationId: a.team.id, pageSize: 500 }, caller.as);
      expect(sas.serviceAccounts.length).toBeGreaterThan(0);
      expect(sas.serviceAccounts.every((s) => s.organizationId === a.team.id)).toBe(true);
    });

    it("a plain member lists only their own API keys; an org admin lists all", async () => {
      const mine = await w.apiKey(a.team.member.as, a.team.id, [ApiKeyScope.READ]);
      const ownersKeys = (await w.keys.listApiKeys({ organizationId: a.team.id, pageSize: 500 }, a.team.admin.as)).apiKeys;
      const listed = (await w.keys.listApiKeys({ organizationId: a.team.id, pageSize: 500 }, a.team.member.as)).apiKeys;
      expect(listed.map((k) => k.id)).toContain(mine.key.id);
      expect(listed.every((k) => k.ownerUserId === a.team.member.id)).toBe(true);
      expect(ownersKeys.map((k) => k.id)).toEqual(expect.arrayContaining([mine.key.id, a.target.keyId]));
    });
  });

  it("a malformed organization id is INVALID_ARGUMENT, not a database error", async () => {
    for (const orgId of ["not-a-uuid", ""]) {
      expect(await outcome(rpc("GetOrganization").call(w, { ...a.target, orgId }, a.team.owner.as))).toBe("InvalidArgument:INVALID_ARGUMENT");
    }
  });
});
