import { beforeEach, describe, expect, it } from "vitest";
import type { MemberRole } from "../../../src/domain/org/member-role.js";
import type { ApiScope, Principal } from "../../../src/domain/principal.js";
import type { UserRow } from "../../../src/domain/records.js";
import { meta, newUser, userPrincipal } from "./fakes/actors.js";
import { expectDomainError } from "./fakes/domain-error.js";
import { cached, createWorld, secondInstance, type World } from "./fakes/world.js";

describe("what an API key may do", () => {
  let w: World;
  let owner: UserRow;
  let member: UserRow;
  let orgId: string;

  /** Creates a key as `caller`, with the grant OrgAccess gives it in the organization. */
  const createKey = async (caller: Principal, scopes: ApiScope[]) => {
    const grant = await w.orgAccess.require(caller, orgId, "viewer");
    return w.apiKeys.create(caller, grant, { name: "ci", scopes, serviceAccountId: "" }, meta);
  };
  const principalOf = async (secret: string, world = w) => (await world.apiKeys.authenticate(secret)).principal;
  const setRole = async (user: UserRow, role: MemberRole) => {
    const p = userPrincipal(owner);
    await w.organizations.updateMemberRole(p, await w.orgAccess.require(p, orgId, "owner"), user.id, role, meta);
  };

  beforeEach(async () => {
    w = await createWorld({ session_cache_ttl: "5s" });
    [owner, member] = [await newUser(w, "owner"), await newUser(w, "member")];
    const p = userPrincipal(owner);
    orgId = (await w.organizations.create(p, "Acme", "free", meta)).id;
    await w.organizations.addMember(p, await w.orgAccess.require(p, orgId, "owner"), member.id, "member", meta);
  });

  it("refuses every machine creator, whatever its scopes: credentials are made by people (USER_SESSION_REQUIRED)", async () => {
    const reader = await principalOf((await createKey(userPrincipal(owner), ["read"])).secret);
    const adminKey = await principalOf((await createKey(userPrincipal(owner), ["admin"])).secret);

    await expectDomainError(createKey(reader, ["read"]), "permission_denied", "USER_SESSION_REQUIRED");
    await expectDomainError(createKey(adminKey, ["write"]), "permission_denied", "USER_SESSION_REQUIRED");
    expect(w.store.tables.apiKeys.size).toBe(2);
    expect(w.store.audited("api_key.create")).toHaveLength(2);
  });

  it("caps a member's admin-scope key at the member role, and follows the owner's current role", async () => {
    const key = await principalOf((await createKey(userPrincipal(member), ["admin"])).secret);
    expect(key.scopes).toEqual(["admin"]);

    expect(await w.orgAccess.effectiveRole(key, orgId)).toBe("member");
    await expectDomainError(w.orgAccess.require(key, orgId, "admin"), "permission_denied", "ORGANIZATION_ROLE_REQUIRED");
    expect((await w.orgAccess.require(key, orgId, "member")).role).toBe("member");

    await setRole(member, "admin");
    expect(await w.orgAccess.effectiveRole(key, orgId)).toBe("admin");
    await setRole(member, "viewer");
    await expectDomainError(w.orgAccess.require(key, orgId, "member"), "permission_denied", "ORGANIZATION_ROLE_REQUIRED");
  });

  it("caps a key at its scopes too: an owner's read key acts as a viewer", async () => {
    const key = await principalOf((await createKey(userPrincipal(owner), ["read"])).secret);
    expect(await w.orgAccess.effectiveRole(key, orgId)).toBe("viewer");
    await expectDomainError(w.orgAccess.require(key, orgId, "member"), "permission_denied", "ORGANIZATION_ROLE_REQUIRED");
  });

  it("stops a user's key when its owner leaves the organization (OWNER_NOT_MEMBER), on every instance", async () => {
    const { secret } = await createKey(userPrincipal(member), ["write"]);
    const other = await secondInstance(w, { session_cache_ttl: "5s" });
    const key = await principalOf(secret);
    await principalOf(secret, other);
    expect([cached(w, "api_keys"), cached(other, "api_keys")]).toEqual([1, 1]);

    const p = userPrincipal(owner);
    await w.organizations.removeMember(p, await w.orgAccess.require(p, orgId, "owner"), member.id, meta);

    await expectDomainError(w.apiKeys.authenticate(secret), "unauthenticated", "OWNER_NOT_MEMBER");
    await expectDomainError(other.apiKeys.authenticate(secret), "unauthenticated", "OWNER_NOT_MEMBER");
    // A principal built before the removal gets no role either.
    expect(await w.orgAccess.effectiveRole(key, orgId)).toBeUndefined();
    await expectDomainError(w.orgAccess.require(key, orgId, "viewer"), "permission_denied", "ORGANIZATION_ROLE_REQUIRED");
  });

  it("refuses a revoked key at once, here and on another instance that had it cached (API_KEY_REVOKED)", async () => {
    const { row, secret } = await createKey(userPrincipal(member), ["write"]);
    const other = await secondInstance(w, { session_cache_ttl: "5s" });
    await principalOf(secret);
    await principalOf(secret, other);

    await w.apiKeys.revoke(userPrincipal(member), row.id, meta);

    await expectDomainError(w.apiKeys.authenticate(secret), "unauthenticated", "API_KEY_REVOKED");
    await expectDomainError(other.apiKeys.authenticate(secret), "unauthenticated", "API_KEY_REVOKED");
    expect(w.store.audited("api_key.revoke")).toEqual([expect.objectContaining({ targetId: row.id, actorId: member.id })]);
    await expectDomainError(w.apiKeys.revoke(userPrincipal(member), row.id, meta), "failed_precondition", "API_KEY_REVOKED");
  });

  it("refuses a rotated key from its cached row once the overlap is over (liveReason), with no notification needed", async () => {
    const { row, secret } = await createKey(userPrincipal(member), ["write"]);
    const replacement = await w.apiKeys.rotate(userPrincipal(member), row.id, 3, meta);
    await principalOf(secret); // still inside the overlap: accepted and cached, revokedAt 3 s ahead
    w.channel.dropping = true;

    w.clock.advance(4); // less than the 5 s cache age: the entry is still there
    expect(cached(w, "api_keys")).toBe(1);
    await expectDomainError(w.apiKeys.authenticate(secret), "unauthenticated", "API_KEY_REVOKED");
    expect((await principalOf(replacement.secret)).id).toBe(replacement.row.id);
  });

  it("without the notification, another instance honours a revoked key for at most the cache age", async () => {
    // Not a rule being broken: the bound on how long a lost notification leaves a cache stale.
    const { row, secret } = await createKey(userPrincipal(member), ["write"]);
    const other = await secondInstance(w, { session_cache_ttl: "5s" });
    await principalOf(secret, other);
    w.channel.dropping = true;

    await w.apiKeys.revoke(userPrincipal(member), row.id, meta);
    await expect(principalOf(secret, other)).resolves.toMatchObject({ id: row.id });
    w.clock.advance(5);
    await expectDomainError(other.apiKeys.authenticate(secret), "unauthenticated", "API_KEY_REVOKED");
  });
});
