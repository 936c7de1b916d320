import { createHash } from "node:crypto";
import { toJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, type CallOptions } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiKeySchema, ApiKeyScope, ValidateApiKeyResponseSchema } from "../../gen/warden/apikey/v1/api_key_service_pb.js";
import { MemberRole } from "../../gen/warden/org/v1/organization_pb.js";
import { Effect } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { bearer } from "../helpers/test-app.js";
import { buildScene, runScopeCase, SCOPE_CASES, type Scene } from "../helpers/tenancy-rpcs.js";
import { queryRows } from "../helpers/database.js";
import { denied, errorOf, expectError, outcome } from "../helpers/expect-error.js";
import { jwtClaims } from "../helpers/jwt.js";
import { cellsOf, forgedApiKey, useTenancyWorld, type Caller, type IssuedKey, type Team } from "../helpers/tenancy-world.js";

const KEY_FORMAT = /^wdn_k_[A-Za-z0-9]{64}$/;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

describe("API keys", () => {
  const w = useTenancyWorld({ max_organizations_per_user: 1000 });
  let team: Team;
  let shared: Scene;
  let sysadmin: Caller;
  beforeAll(async () => {
    [team, shared, sysadmin] = await Promise.all([w.team("keys"), buildScene(w, "scope"), w.admin()]);
  });

  const read = (key: IssuedKey, orgId = team.id) => outcome(w.orgs.getOrganization({ id: orgId }, key.as));
  const validate = async (secret: string) => (await w.keys.validateApiKey({ key: secret })).valid;

  describe("the secret", () => {
    it("is wdn_k_ + 64 characters, shown once: neither listed nor stored, only its SHA-256", async () => {
      const created = await w.keys.createApiKey({ organizationId: team.id, name: "ci", scopes: [ApiKeyScope.READ, ApiKeyScope.WRITE] }, team.member.as);
      const { secret, apiKey } = created;
      expect(secret).toMatch(KEY_FORMAT);
      expect([apiKey?.name, apiKey?.scopes, apiKey?.organizationId, apiKey?.ownerUserId]).toEqual([
        "ci",
        [ApiKeyScope.READ, ApiKeyScope.WRITE],
        team.id,
        team.member.id,
      ]);
      expect(secret.startsWith(apiKey!.prefix)).toBe(true);
      expect(apiKey!.prefix.length).toBeLessThanOrEqual(12);
      // Anything longer than the display prefix would be part of the key.
      const hidden = secret.slice(apiKey!.prefix.length);

      const listed = await w.keys.listApiKeys({ organizationId: team.id, pageSize: 500 }, team.owner.as);
      expect(listed.apiKeys.map((k) => k.id)).toContain(apiKey!.id);
      const listedJson = listed.apiKeys.map((k) => toJsonString(ApiKeySchema, k)).join("\n");
      const validated = toJsonString(ValidateApiKeyResponseSchema, await w.keys.validateApiKey({ key: secret }));
      for (const text of [listedJson, validated]) expect(text).not.toContain(hidden.slice(0, 16));

      const rows = await queryRows(w.t.app.hooks.db, sql`select * from api_keys`);
      expect(rows.find((r) => r.id === apiKey!.id)?.key_hash).toBe(sha256(secret));
      for (const cell of cellsOf(rows)) expect(cell).not.toContain(hidden.slice(0, 16));
    });

    it("validates only when it is the issued key: unknown, malformed and empty keys are not valid", async () => {
      const key = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.READ]);
      const v = await w.keys.validateApiKey({ key: key.secret });
      expect([v.valid, v.organizationId, v.scopes, v.apiKey?.id, v.sessionToken]).toEqual([true, team.id, [ApiKeyScope.READ], key.key.id, ""]);
      const tampered = key.secret.slice(0, -1) + (key.secret.endsWith("A") ? "B" : "A");
      for (const bad of [forgedApiKey(), tampered, `${key.secret}x`, "wdn_k_short", ""]) expect(await validate(bad)).toBe(false);
    });

    it("CreateApiKey checks name, scopes and expiry", async () => {
      const create = (name: string, scopes: ApiKeyScope[], expiresAt?: Date) =>
        outcome(w.keys.createApiKey({ organizationId: team.id, name, scopes, expiresAt: expiresAt && timestampFromDate(expiresAt) }, team.owner.as));
      const bad = "InvalidArgument:INVALID_ARGUMENT";
      expect([
        await create("", [ApiKeyScope.READ]),
        await create("k", []),
        await create("k", [ApiKeyScope.UNSPECIFIED]),
        await create("k", [ApiKeyScope.READ], new Date(w.t.clock.now().getTime() - 1000)),
      ]).toEqual([bad, bad, bad, bad]);
    });
  });

  describe("ValidateApiKey with issue_session_token", () => {
    it("returns a one-hour token bound to the key: its scopes, its organization, its revocation", async () => {
      const key = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.READ]);
      const v = await w.keys.validateApiKey({ key: key.secret, issueSessionToken: true });
      expect(v.valid).toBe(true);
      const expiresAt = Number(v.sessionTokenExpiresAt!.seconds) * 1000;
      expect(Math.abs(expiresAt - (w.t.clock.now().getTime() + 3600_000))).toBeLessThanOrEqual(1000);
      const claims = jwtClaims(v.sessionToken);
      expect([claims.sub, claims.token_type, (claims.exp as number) - (claims.iat as number)]).toEqual([key.key.id, "api_key", 3600]);
      const session = bearer(v.sessionToken);
      expect(await outcome(w.members.listMembers({ organizationId: team.id }, session))).toBe("OK");
      // Never more than the read key: no writes, even though the owner could.
      expect(await outcome(w.orgs.updateOrganization({ id: team.id, name: "renamed by token" }, session))).toBe(denied("INSUFFICIENT_SCOPE"));
      // Past the hour and the 5 s of clock skew that token checks allow.
      w.t.clock.advance(3606);
      expect(await outcome(w.members.listMembers({ organizationId: team.id }, session))).toMatch(/^Unauthenticated:/);
      // The key itself has no expiry.
      expect(await read(key)).toBe("OK");
    });

    it("stops working when the key is revoked", async () => {
      const key = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.READ]);
      const v = await w.keys.validateApiKey({ key: key.secret, issueSessionToken: true });
      const session = bearer(v.sessionToken);
      expect(await outcome(w.members.listMembers({ organizationId: team.id }, session))).toBe("OK");
      await w.keys.revokeApiKey({ id: key.key.id }, team.owner.as);
      expect(await outcome(w.members.listMembers({ organizationId: team.id }, session))).toMatch(/^Unauthenticated:/);
    });
  });

  describe("as a bearer credential", () => {
    it.for(SCOPE_CASES)("a $scope key of the owner: $rpc -> $expected", async (c) => {
      await runScopeCase(w, c, shared, "scope", async (scene, scope) => (await w.apiKey(scene.team.owner.as, scene.team.id, [scope])).as);
    });

    it("a read key may read users but cannot create organizations", async () => {
      const key = await w.apiKey(team.member.as, team.id, [ApiKeyScope.READ]);
      expect(await outcome(w.users.getUser({ id: team.owner.id }, key.as))).toBe("OK");
      expect(await outcome(w.orgs.createOrganization({ name: "by key" }, key.as))).toBe(denied("INSUFFICIENT_SCOPE"));
    });

    it("never exceeds its owner's current role: a demoted or removed owner's key loses power on the next call", async () => {
      const org = await w.team("demote");
      const key = await w.apiKey(org.owner.as, org.id, [ApiKeyScope.ADMIN]);
      const rename = () => outcome(w.orgs.updateOrganization({ id: org.id, name: w.name("k") }, key.as));
      expect(await rename()).toBe("OK");
      await w.members.updateMemberRole({ organizationId: org.id, userId: org.admin.id, role: MemberRole.OWNER }, org.owner.as);
      await w.members.updateMemberRole({ organizationId: org.id, userId: org.owner.id, role: MemberRole.VIEWER }, org.admin.as);
      expect([await rename(), await read(key, org.id)]).toEqual([denied("ORGANIZATION_ROLE_REQUIRED"), "OK"]);
      await w.members.removeMember({ organizationId: org.id, userId: org.owner.id }, org.admin.as);
      expect(await read(key, org.id)).toBe("Unauthenticated:OWNER_NOT_MEMBER");
    });

    it("of a system administrator cannot call system-admin RPCs", async () => {
      const org = await w.org(sysadmin);
      const key = await w.apiKey(sysadmin.as, org.id, [ApiKeyScope.ADMIN]);
      expect(await read(key, org.id)).toBe("OK");
      const adminOnly = [
        w.orgs.suspendOrganization({ id: org.id, suspended: true }, key.as),
        w.users.listUsers({}, key.as),
        w.users.updateUser({ id: team.viewer.id, admin: true }, key.as),
        w.roles.createRole({ role: { name: "by-key", rules: [{ resources: ["*"], verbs: ["*"], effect: Effect.ALLOW }] } }, key.as),
      ];
      expect(await Promise.all(adminOnly.map(outcome))).toEqual(adminOnly.map(() => denied("PERMISSION_REQUIRED")));
      expect(await outcome(w.orgs.getOrganization({ id: team.id }, key.as))).toBe(denied("ORGANIZATION_ROLE_REQUIRED"));
    });
  });

  describe("lifetime", () => {
    it("expires at expires_at", async () => {
      const key = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.READ], { expiresAt: timestampFromDate(new Date(w.t.clock.now().getTime() + 60_000)) });
      expect([await read(key), await validate(key.secret)]).toEqual(["OK", true]);
      w.t.clock.advance(61);
      expect([await read(key), await validate(key.secret)]).toEqual(["Unauthenticated:API_KEY_EXPIRED", false]);
    });

    it("RevokeApiKey refuses the key at once (no cache wait) and only once", async () => {
      const key = await w.apiKey(team.member.as, team.id, [ApiKeyScope.READ]);
      expect(await read(key)).toBe("OK");
      await w.keys.revokeApiKey({ id: key.key.id }, team.member.as);
      expect([await read(key), await validate(key.secret)]).toEqual(["Unauthenticated:API_KEY_REVOKED", false]);
      expect(await outcome(w.keys.revokeApiKey({ id: key.key.id }, team.member.as))).toBe("FailedPrecondition:API_KEY_REVOKED");
      const listed = (await w.keys.listApiKeys({ organizationId: team.id, pageSize: 500 }, team.member.as)).apiKeys.find((k) => k.id === key.key.id);
      expect(listed?.revokeTime).toBeDefined();
    });

    it("RotateApiKey with an overlap: the old key works until the overlap passes", async () => {
      const old = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.READ, ApiKeyScope.WRITE]);
      expect(await read(old)).toBe("OK");
      const rotated = await w.keys.rotateApiKey({ id: old.key.id, overlapSeconds: 300 }, team.owner.as);
      expect(rotated.secret).toMatch(KEY_FORMAT);
      expect([rotated.apiKey?.name, rotated.apiKey?.scopes, rotated.apiKey?.ownerUserId]).toEqual([old.key.name, old.key.scopes, team.owner.id]);
      expect(rotated.apiKey?.id).not.toBe(old.key.id);
      const fresh = { key: rotated.apiKey!, secret: rotated.secret, as: bearer(rotated.secret) };
      w.t.clock.advance(299);
      expect([await read(old), await read(fresh)]).toEqual(["OK", "OK"]);
      w.t.clock.advance(2);
      expect([await read(old), await read(fresh)]).toEqual(["Unauthenticated:API_KEY_REVOKED", "OK"]);
      expect(await outcome(w.keys.rotateApiKey({ id: old.key.id }, team.owner.as))).toBe("FailedPrecondition:API_KEY_ALREADY_ROTATED");
    });

    it("RotateApiKey without an overlap refuses the old key at once; the overlap is bounded", async () => {
      const old = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.READ]);
      expect(await read(old)).toBe("OK");
      for (const overlapSeconds of [-1, 86_401])
        expect(await outcome(w.keys.rotateApiKey({ id: old.key.id, overlapSeconds }, team.owner.as))).toBe("InvalidArgument:INVALID_ARGUMENT");
      const rotated = await w.keys.rotateApiKey({ id: old.key.id }, team.owner.as);
      expect([await read(old), await validate(old.secret), await validate(rotated.secret)]).toEqual(["Unauthenticated:API_KEY_REVOKED", false, true]);
    });

    it("concurrent rotations of one key: exactly one succeeds and exactly one new key exists", async () => {
      const old = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.READ]);
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => w.keys.rotateApiKey({ id: old.key.id }, team.owner.as)));
      const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      expect(won).toHaveLength(1);
      const losers = await Promise.all(results.filter((r) => r.status === "rejected").map((r) => outcome(Promise.reject((r as PromiseRejectedResult).reason))));
      expect(losers).toEqual(Array(4).fill("FailedPrecondition:API_KEY_ALREADY_ROTATED"));
      expect([await validate(won[0]!.secret), await validate(old.secret)]).toEqual([true, false]);
      const sameName = (await w.keys.listApiKeys({ organizationId: team.id, pageSize: 500 }, team.owner.as)).apiKeys.filter((k) => k.name === old.key.name);
      expect(sameName.map((k) => k.id).sort()).toEqual([old.key.id, won[0]!.apiKey!.id].sort());
    });

    it("a member manages their own keys but not another member's", async () => {
      const ownersKey = await w.apiKey(team.owner.as, team.id, [ApiKeyScope.READ]);
      const membersKey = await w.apiKey(team.member.as, team.id, [ApiKeyScope.READ]);
      expect(await outcome(w.keys.revokeApiKey({ id: ownersKey.key.id }, team.member.as))).toBe(denied("API_KEY_ACCESS_DENIED"));
      expect(await outcome(w.keys.rotateApiKey({ id: membersKey.key.id }, team.member.as))).toBe("OK");
      expect(await validate(ownersKey.secret)).toBe(true);
    });
  });
});

describe("failed API keys count against the caller's network budget", () => {
  const BUDGET = 5;
  const w = useTenancyWorld({ network_max_failures: BUDGET });

  it(`the ${BUDGET + 1}th bad key from one address is RESOURCE_EXHAUSTED, and then even a good one`, async () => {
    const owner = await w.user("budget-owner");
    const org = await w.org(owner);
    const good = await w.apiKey(owner.as, org.id, [ApiKeyScope.READ]);
    const sa = await w.serviceAccount(owner.as, org.id);
    const useKey = (as: CallOptions) => outcome(w.orgs.getOrganization({ id: org.id }, as));
    // Good keys cost nothing, however often they are used.
    for (let i = 0; i < BUDGET * 2; i++) expect(await useKey(good.as)).toBe("OK");
    // Bad keys as bearers and bad keys to ValidateApiKey share the budget.
    for (let i = 0; i < BUDGET - 2; i++) expect(await useKey(bearer(forgedApiKey()))).toBe("Unauthenticated:API_KEY_INVALID");
    for (let i = 0; i < 2; i++) expect((await w.keys.validateApiKey({ key: forgedApiKey() })).valid).toBe(false);

    const err = await expectError(w.orgs.getOrganization({ id: org.id }, bearer(forgedApiKey())), Code.ResourceExhausted, "RATE_LIMITED");
    expect(Number(err.metadata.get("retry-after"))).toBeGreaterThan(0);
    expect(await useKey(good.as)).toBe("ResourceExhausted:RATE_LIMITED");
    expect(await outcome(w.keys.validateApiKey({ key: good.secret }))).toBe("ResourceExhausted:RATE_LIMITED");
    // Service-account secrets have a budget of their own, which bad API keys do not spend.
    expect(await outcome(w.sas.authenticateServiceAccount({ clientId: sa.sa.clientId, clientSecret: sa.secret }))).toBe("OK");
    // A signed-in user of the same address is not locked out of ordinary calls.
    expect(await outcome(w.orgs.getOrganization({ id: org.id }, owner.as))).toBe("OK");
    expect(await errorOf(w.members.listMembers({ organizationId: org.id }, owner.as))).toBeUndefined();
  });
});
